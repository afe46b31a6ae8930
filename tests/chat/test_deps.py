"""The chat's routes take their settings through a dependency (agent_chat.deps)."""

from __future__ import annotations

import httpx

from agent_chat import deps
from agent_chat.app import create_app
from agent_chat.settings import ChatSettings
from agent_common.devstack import Stack
from tests.support.serving import serve


def test_a_settings_override_sets_the_message_limit(infra: Stack) -> None:
    base = {"database_url": infra.pg.url, "redis_url": infra.redis.url}
    app = create_app(ChatSettings(**base))  # 12,000 characters by default
    app.dependency_overrides[deps.get_settings] = lambda: ChatSettings(**base, chat_message_max_chars=5)
    with serve(app) as url:
        user = {"X-User-Id": "deps-test"}
        answer = httpx.post(f"{url}/chat", json={"message": "hello there"}, headers=user)
        history = httpx.get(f"{url}/chat/history/deps-test", headers=user)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["msg"] == "message is longer than 5 characters"
    assert history.status_code == 200 and history.json() == []  # refused before anything was stored
