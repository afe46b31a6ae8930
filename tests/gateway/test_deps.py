"""The gateway's own endpoints take their settings through a dependency (agent_gateway.deps),
so a test can run them with other settings on a real gateway, PostgreSQL and Redis."""

from __future__ import annotations

import httpx

from agent_common.devstack import Stack
from agent_gateway import deps
from agent_gateway.app import create_app
from agent_gateway.settings import GatewaySettings
from tests.support.serving import serve


def test_a_settings_override_sets_the_new_session_limit(infra: Stack) -> None:
    base = {"database_url": infra.pg.url, "redis_url": infra.redis.url, "trusted_proxy_hops": 1}
    app = create_app(GatewaySettings(**base))  # 100 new sessions per address by default
    app.api.dependency_overrides[deps.get_settings] = lambda: GatewaySettings(
        **base, session_create_capacity=1, session_create_refill_per_s=0.001
    )
    with serve(app) as url:
        address = {"X-Forwarded-For": "198.51.100.77"}
        first, second = (httpx.post(f"{url}/api/session", headers=address) for _ in range(2))
        assert first.status_code == 201, first.text
        assert second.status_code == 429 and second.json()["detail"].startswith("too many requests")
        other = httpx.post(f"{url}/api/session", headers={"X-Forwarded-For": "198.51.100.78"})
        assert other.status_code == 201
