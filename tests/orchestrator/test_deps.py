"""The orchestrator's routes take their settings through a dependency (agent_orchestrator.deps),
so a test can run them with other settings on a real PostgreSQL and Redis."""

from __future__ import annotations

import httpx

from agent_common.devstack import Stack
from agent_orchestrator import deps
from agent_orchestrator.app import create_app
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.serving import serve
from tests.support.tasks import new_user


def test_a_settings_override_sets_the_largest_page_of_tasks(infra: Stack) -> None:
    base = {"database_url": infra.pg.url, "redis_url": infra.redis.url}
    app = create_app(OrchestratorSettings(**base))  # pages of up to 200 by default
    app.dependency_overrides[deps.get_settings] = lambda: OrchestratorSettings(
        **base, tasks_page_default=1, tasks_page_max=2
    )
    user = {"X-User-Id": new_user()}
    with serve(app) as url:
        for n in range(3):
            body = {"title": f"t{n}", "description": "Some text."}
            created = httpx.post(f"{url}/task", json=body, headers=user)
            assert created.status_code == 202, created.text
        default = httpx.get(f"{url}/tasks", headers=user).json()
        two = httpx.get(f"{url}/tasks?limit=2", headers=user).json()
        refused = httpx.get(f"{url}/tasks?limit=3", headers=user)
    assert [t["title"] for t in default] == ["t2"]
    assert [t["title"] for t in two] == ["t2", "t1"]
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["query", "limit"],
            "type": "less_than_equal",
            "msg": "Input should be less than or equal to 2",
        }
    ]
