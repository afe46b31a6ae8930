"""Who may see what, on every /api route of the routing table (so a route added later is
checked too): another user's ids are 404 and their data never shows; no session, an
expired one and a revoked one are 401 everywhere."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from agent_common.devstack import Stack
from tests.security.support import ROUTES, body_of, new_task, new_user, path_of

OWN_ROUTES = [("GET", "/api/session"), ("POST", "/api/session/revoke"), ("GET", "/api/upstreams")]


@pytest.fixture
async def client(open_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=open_gateway, timeout=30) as c:
        yield c


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_another_users_data_is_404_or_absent(client: httpx.AsyncClient, route: object) -> None:
    owner, intruder = await new_user(client), await new_user(client)
    task_id = await new_task(client, owner, title="owner's secret title")
    chat = await client.post("/api/chat", headers=owner.auth, json={"message": "owner's secret message"})
    assert chat.status_code == 200
    path = path_of(route, task_id=task_id, user_id=owner.user_id)  # type: ignore[arg-type]
    answer = await client.request(route.method, path, headers=intruder.auth, json=body_of(route))  # type: ignore[attr-defined]
    if "{" in route.path:  # type: ignore[attr-defined]
        assert answer.status_code == 404, (path, answer.status_code, answer.text)
    else:
        assert answer.status_code in (200, 202), answer.text
    assert "secret" not in answer.text
    assert task_id not in answer.text and owner.user_id not in answer.text
    # the owner's data is untouched (a cancel by the intruder did nothing)
    mine = await client.get(f"/api/tasks/{task_id}", headers=owner.auth)
    assert mine.status_code == 200 and mine.json()["status"] != "cancelled"


async def test_a_forged_user_header_changes_nothing(client: httpx.AsyncClient) -> None:
    owner, intruder = await new_user(client), await new_user(client)
    task_id = await new_task(client, owner)
    forged = {**intruder.auth, "X-User-Id": owner.user_id, "X-Forwarded-User": owner.user_id}
    for route in ROUTES:
        path = path_of(route, task_id=task_id, user_id=owner.user_id)
        answer = await client.request(route.method, path, headers=forged, json=body_of(route))
        assert answer.status_code in (200, 202, 404), (route.name, answer.status_code)
        assert task_id not in answer.text or route.name == "task_create"


async def _refused_everywhere(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for route in ROUTES:
        path = path_of(route, task_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
        answer = await client.request(route.method, path, headers=headers, json=body_of(route))
        assert answer.status_code == 401, (route.name, answer.status_code)
        assert answer.json()["detail"].startswith("no valid session")
    for method, path in OWN_ROUTES:
        assert (await client.request(method, path, headers=headers)).status_code == 401, path


async def test_no_session_is_401_on_every_route(client: httpx.AsyncClient) -> None:
    await _refused_everywhere(client, {})
    await _refused_everywhere(client, {"Cookie": "session="})


async def test_an_expired_session_is_401_on_every_route(client: httpx.AsyncClient, stack: Stack) -> None:
    token = secrets.token_urlsafe(32)
    conn = await asyncpg.connect(stack.pg.url)
    try:
        await conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
            " VALUES ($1, $2, now() - interval '8 days', now() - interval '1 second')",
            hashlib.sha256(token.encode()).digest(),
            str(uuid.uuid4()),
        )
    finally:
        await conn.close()
    await _refused_everywhere(client, {"Authorization": f"Bearer {token}"})
    await _refused_everywhere(client, {"Cookie": f"session={token}"})


async def test_a_revoked_session_is_401_on_every_route(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    await new_task(client, user)
    assert (await client.post("/api/session/revoke", headers=user.auth)).status_code == 200
    await _refused_everywhere(client, user.auth)
    await _refused_everywhere(client, {"Cookie": f"session={user.token}"})


async def test_a_user_id_is_not_a_credential(client: httpx.AsyncClient) -> None:
    """Neither the user id nor the token's stored hash opens a session."""
    user = await new_user(client)
    for guess in (user.user_id, hashlib.sha256(user.token.encode()).hexdigest()):
        assert (
            await client.get("/api/tasks", headers={"Authorization": f"Bearer {guess}"})
        ).status_code == 401
