"""Costly and unauthenticated work is bounded: chat and task creation have buckets of their
own per session and per client address, failed session lookups are limited per address
and never cached, and the upstreams report is shared and rate limited. The "costly"
gateway trusts one proxy hop, so each test's client address is its X-Forwarded-For."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import httpx
import pytest

from tests.gateway.conftest import Gateway, Session, new_session
from tests.gateway.upstreams import EchoUpstream

Http = httpx.AsyncClient


@pytest.fixture
def costly(gateways: dict[str, Gateway]) -> str:
    return gateways["costly"].url


async def _session(client: Http, base: str, address: str) -> Session:
    return await new_session(client, base, headers={"X-Forwarded-For": address})


def _as(session: Session, address: str) -> dict[str, str]:
    return {**session.bearer, "X-Forwarded-For": address}


@pytest.mark.parametrize(
    ("path", "body"), [("/api/chat", {"message": "hi"}), ("/api/task", {"title": "t", "description": "d"})]
)
async def test_costly_routes_have_their_own_bucket_per_session(
    client: Http, costly: str, path: str, body: dict[str, str]
) -> None:
    address = f"198.51.100.{10 + len(path)}"
    session = await _session(client, costly, address)
    answers = [await client.post(costly + path, headers=_as(session, address), json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json() == {"detail": "too many requests: slow down"}
    assert int(answers[-1].headers["retry-after"]) >= 1
    # the session's other calls have their own, larger bucket
    assert (await client.get(f"{costly}/api/tasks", headers=_as(session, address))).status_code == 200


async def test_costly_routes_have_a_bucket_per_client_address(client: Http, costly: str) -> None:
    """Three chats per address here: new sessions from the same address do not add more."""
    address = "198.51.100.30"
    sessions = [await _session(client, costly, address) for _ in range(3)]
    statuses = [
        (await client.post(f"{costly}/api/chat", headers=_as(s, address), json={"message": "hi"})).status_code
        for s in sessions
        for _ in range(1 if s is not sessions[0] else 2)
    ]
    assert statuses == [200, 200, 200, 429]
    other = sessions[2]
    assert (
        await client.post(f"{costly}/api/chat", headers=_as(other, "198.51.100.31"), json={"message": "hi"})
    ).status_code == 200


async def test_failed_session_lookups_are_limited_per_client_address(client: Http, costly: str) -> None:
    address = "203.0.113.40"
    made_up = [
        {"Authorization": f"Bearer {secrets.token_urlsafe(32)}", "X-Forwarded-For": address} for _ in range(5)
    ]
    statuses = [(await client.get(f"{costly}/api/tasks", headers=h)).status_code for h in made_up]
    assert statuses == [401, 401, 401, 429, 429]
    refused = await client.get(f"{costly}/api/tasks", headers=made_up[0])
    assert refused.json() == {"detail": "too many failed session lookups from this address: try again later"}
    assert int(refused.headers["retry-after"]) >= 1
    # the endpoints the gateway answers itself are covered too
    assert (await client.get(f"{costly}/api/session", headers=made_up[1])).status_code == 429
    # another address is not affected, and malformed tokens cost no query: plain 401
    elsewhere = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}", "X-Forwarded-For": "203.0.113.41"}
    assert (await client.get(f"{costly}/api/tasks", headers=elsewhere)).status_code == 401
    short = {"Authorization": "Bearer short", "X-Forwarded-For": address}
    assert (await client.get(f"{costly}/api/tasks", headers=short)).status_code == 401


async def test_made_up_tokens_never_evict_cached_sessions(
    client: Http, costly: str, db: asyncpg.Connection
) -> None:
    """The cache holds 4 sessions for 60 s here. A session revoked straight in the table still
    works from the cache: proof that unknown tokens (no negative entries) did not evict it."""
    session = await _session(client, costly, "192.0.2.50")
    assert (await client.get(f"{costly}/api/tasks", headers=_as(session, "192.0.2.50"))).status_code == 200
    for i in range(9):  # three addresses, three failed lookups each
        made_up = {
            "Authorization": f"Bearer {secrets.token_urlsafe(32)}",
            "X-Forwarded-For": f"192.0.2.{60 + i // 3}",
        }
        assert (await client.get(f"{costly}/api/tasks", headers=made_up)).status_code == 401
    await db.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = $1", session.user_id)
    assert (await client.get(f"{costly}/api/tasks", headers=_as(session, "192.0.2.50"))).status_code == 200


async def test_the_upstreams_report_is_shared_between_callers(
    client: Http, costly: str, echo: EchoUpstream
) -> None:
    """Made once per UPSTREAMS_REPORT_TTL_S (30 s here) whoever asks: 20 calls, at most one
    probe per upstream (chat and orchestrator are both the echo upstream here)."""
    sessions = [await _session(client, costly, f"192.0.2.{80 + i}") for i in range(4)]
    await client.get(f"{costly}/api/upstreams", headers=_as(sessions[0], "192.0.2.80"))
    before = echo.ready_calls
    answers = await asyncio.gather(
        *(
            client.get(f"{costly}/api/upstreams", headers=_as(s, f"192.0.2.{80 + i}"))
            for i, s in enumerate(sessions)
            for _ in range(5)
        )
    )
    assert {a.status_code for a in answers} == {200}
    assert echo.ready_calls == before
    # this gateway was asked to include the upstreams' URLs
    assert answers[0].json()["upstreams"]["chat"]["url"] == echo.url


async def test_the_upstreams_report_leaves_internal_urls_out_and_is_rate_limited(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    base = gateways["limited"].url  # 3 tokens per session
    session = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.90"})
    answers = [await client.get(f"{base}/api/upstreams", headers=session.bearer) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    report = answers[0].json()["upstreams"]
    assert report["chat"]["ready"] is True
    assert all("url" not in probe for probe in report.values())
