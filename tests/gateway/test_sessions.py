"""Sessions: creation, cookie and bearer, what is stored, expiry, revocation, forged ids."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import uuid

import asyncpg
import httpx

from tests.gateway.conftest import Gateway, new_session, upstream_headers

Http = httpx.AsyncClient


async def test_session_is_created_with_token_user_and_cookie(client: Http, gw: str) -> None:
    answer = await client.post(f"{gw}/api/session")
    assert answer.status_code == 201
    body = answer.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["session_token"])  # 32 random bytes
    assert uuid.UUID(body["user_id"])
    assert body["expires_at"].endswith("Z")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"session={body['session_token']};")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in cookie
    assert f"Max-Age={7 * 86400}" in cookie
    assert "secure" not in attributes  # plain http here
    assert answer.headers["cache-control"] == "no-store"


async def test_a_clients_own_forwarded_proto_does_not_make_the_cookie_secure(client: Http, gw: str) -> None:
    """With no trusted proxy in front (the default), X-Forwarded-Proto is the client's claim."""
    answer = await client.post(f"{gw}/api/session", headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" not in answer.headers["set-cookie"]


async def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    """The "costly" gateway trusts one proxy hop (as behind the Gateway API's Envoy)."""
    url = gateways["costly"].url
    over_tls = await client.post(f"{url}/api/session", headers={"X-Forwarded-Proto": "https"})
    plain = await client.post(f"{url}/api/session", headers={"X-Forwarded-Proto": "http"})
    assert "; Secure" in over_tls.headers["set-cookie"]
    assert "; Secure" not in plain.headers["set-cookie"]


async def test_session_cookie_secure_always_marks_it_on_plain_http(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    """The "slowbody" gateway runs with SESSION_COOKIE_SECURE=always (prod's setting)."""
    session = await new_session(client, gateways["slowbody"].url)
    answer = await client.post(f"{gateways['slowbody'].url}/api/session/revoke", headers=session.bearer)
    created = await client.post(f"{gateways['slowbody'].url}/api/session")
    assert "; Secure" in created.headers["set-cookie"]
    assert "; Secure" in answer.headers["set-cookie"]  # clearing it too


async def test_only_a_hash_of_the_token_is_stored(client: Http, gw: str, db: asyncpg.Connection) -> None:
    session = await new_session(client, gw)
    row = await db.fetchrow("SELECT * FROM sessions WHERE user_id = $1", session.user_id)
    assert row["token_hash"] == hashlib.sha256(session.token.encode()).digest()
    assert row["revoked_at"] is None
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 7 * 86400
    everything = await db.fetchval("SELECT string_agg(row_to_json(s)::text, '') FROM sessions s")
    assert session.token not in everything
    raw_hex = session.token.encode().hex()
    assert raw_hex not in everything


async def test_no_session_is_401(client: Http, gw: str) -> None:
    for path in ("/api/tasks", "/api/chat/history/x", "/api/session", "/api/upstreams"):
        answer = await client.get(gw + path)
        assert answer.status_code == 401, path
        assert answer.json()["detail"].startswith("no valid session")
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert (await client.post(f"{gw}/api/task", json={"title": "t", "description": "d"})).status_code == 401


async def test_unknown_or_malformed_tokens_are_401(client: Http, gw: str) -> None:
    for token in (secrets.token_urlsafe(32), "short", "x" * 400, "a b c", "%00"):
        answer = await client.get(f"{gw}/api/tasks", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
        cookie = await client.get(f"{gw}/api/tasks", headers={"Cookie": f"session={token}"})
        assert cookie.status_code == 401, token


async def test_cookie_and_bearer_both_work(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    cookie = {"Cookie": f"theme=dark; session={session.token}"}
    by_cookie = await client.get(f"{gw}/api/tasks", headers=cookie)
    assert by_cookie.status_code == 200
    assert upstream_headers(by_cookie.json())["x-user-id"] == [session.user_id]
    by_bearer = await client.get(f"{gw}/api/tasks", headers=session.bearer)
    assert upstream_headers(by_bearer.json())["x-user-id"] == [session.user_id]


async def test_the_session_cookie_set_by_create_is_what_a_browser_sends_back(gw: str) -> None:
    async with httpx.AsyncClient(timeout=10) as browser:
        created = await browser.post(f"{gw}/api/session")
        who = await browser.get(f"{gw}/api/session")
        assert who.status_code == 200
        assert who.json()["user_id"] == created.json()["user_id"]


async def test_forged_user_id_is_replaced_by_the_sessions(client: Http, gw: str) -> None:
    me, victim = await new_session(client, gw), await new_session(client, gw)
    answer = await client.get(
        f"{gw}/api/tasks", headers={**me.bearer, "X-User-Id": victim.user_id, "x-user-id": "admin"}
    )
    assert upstream_headers(answer.json())["x-user-id"] == [me.user_id]


async def test_expired_session_is_401(client: Http, gw: str, db: asyncpg.Connection) -> None:
    token = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
        " VALUES ($1, $2, now() - interval '2 days', now() - interval '1 second')",
        hashlib.sha256(token.encode()).digest(),
        str(uuid.uuid4()),
    )
    answer = await client.get(f"{gw}/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


async def test_session_expiring_while_cached_is_refused_at_once(
    client: Http, gw: str, db: asyncpg.Connection
) -> None:
    """The cache keeps the expiry time: expiry is exact even for a cached session."""
    token = secrets.token_urlsafe(32)
    expires_at = await db.fetchval(
        "INSERT INTO sessions (token_hash, user_id, expires_at)"
        " VALUES ($1, $2, now() + interval '3 seconds') RETURNING expires_at",
        hashlib.sha256(token.encode()).digest(),
        str(uuid.uuid4()),
    )
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{gw}/api/tasks", headers=bearer)).status_code == 200
    await asyncio.sleep(max(0.0, expires_at.timestamp() - time.time()) + 0.1)
    assert (await client.get(f"{gw}/api/tasks", headers=bearer)).status_code == 401


async def test_revoke_ends_the_session_and_clears_the_cookie(
    client: Http, gw: str, db: asyncpg.Connection
) -> None:
    session = await new_session(client, gw)
    assert (await client.get(f"{gw}/api/tasks", headers=session.bearer)).status_code == 200
    revoked = await client.post(f"{gw}/api/session/revoke", headers=session.bearer)
    assert revoked.status_code == 200
    assert "Max-Age=0" in revoked.headers["set-cookie"]
    assert (await client.get(f"{gw}/api/tasks", headers=session.bearer)).status_code == 401
    assert await db.fetchval("SELECT revoked_at FROM sessions WHERE user_id = $1", session.user_id)


async def test_revocation_elsewhere_takes_effect_within_the_cache_ttl(
    client: Http, gw: str, db: asyncpg.Connection
) -> None:
    """Revoked by another replica (here: straight in the table), the session still works
    from this gateway's cache for at most SESSION_CACHE_TTL_S (1 s in this gateway)."""
    session = await new_session(client, gw)
    assert (await client.get(f"{gw}/api/tasks", headers=session.bearer)).status_code == 200
    await db.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = $1", session.user_id)
    await asyncio.sleep(1.2)
    assert (await client.get(f"{gw}/api/tasks", headers=session.bearer)).status_code == 401


async def test_each_session_is_a_new_anonymous_user(client: Http, gw: str) -> None:
    users = {(await new_session(client, gw)).user_id for _ in range(3)}
    assert len(users) == 3
