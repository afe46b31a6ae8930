"""Hostile input: CR/LF in header values, paths and queries never adds a header or a
request upstream (or a header to the answer); SQL in any text field is stored and shown
verbatim."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import asyncpg
import httpx
import pytest

from agent_common.devstack import Stack
from tests.security.support import new_task, new_user


@pytest.fixture
async def client(open_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=open_gateway, timeout=30) as c:
        yield c


async def raw(base: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library would) and read the whole answer."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(request)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(1 << 20), 10)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def get(path: str, token: str, extra: bytes = b"") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n".encode()
        + extra
        + b"\r\n"
    )


@pytest.mark.parametrize(
    "smuggled",
    [
        b"X-Note: a\nX-User-Id: {victim}\r\n",  # bare LF inside a value
        b"X-Note: a\rX-User-Id: {victim}\r\n",  # bare CR
        b"X-Note: a\r\n X-User-Id: {victim}\r\n",  # obsolete line folding
        b"X-Note: a\x00X-User-Id: {victim}\r\n",  # NUL
    ],
)
async def test_a_header_value_cannot_smuggle_another(
    open_gateway: str, client: httpx.AsyncClient, smuggled: bytes
) -> None:
    me, victim = await new_user(client), await new_user(client)
    victims_task = await new_task(client, victim, title="victim's")
    extra = smuggled.replace(b"{victim}", victim.user_id.encode())
    status, data = await raw(open_gateway, get(f"/api/tasks/{victims_task}", me.token, extra))
    assert status in (400, 404), data[:300]  # refused outright, or served as me: not found
    assert b"victim's" not in data
    status, data = await raw(open_gateway, get(f"/api/chat/history/{victim.user_id}", me.token, extra))
    assert status in (400, 404), data[:300]


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/{task}%0d%0aX-User-Id:%20{victim}",
        "/api/tasks/{task}%0aX",
        "/api/tasks/..%2f..%2ftasks",
        "/api/chat/history/{victim}%0d%0a",
        "/api/tasks?limit=1%0d%0aX-User-Id:%20{victim}",
    ],
)
async def test_encoded_crlf_in_the_path_or_query_stays_data(client: httpx.AsyncClient, path: str) -> None:
    me, victim = await new_user(client), await new_user(client)
    task = await new_task(client, victim, title="victim's")
    answer = await client.get(path.format(task=task, victim=victim.user_id), headers=me.auth)
    assert answer.status_code in (404, 422), (answer.status_code, answer.text)
    assert "victim's" not in answer.text
    assert not [h for h in answer.headers if h.lower() == "x-user-id"]


async def test_a_request_id_with_crlf_is_replaced(open_gateway: str, client: httpx.AsyncClient) -> None:
    me = await new_user(client)
    for value in (b"abc\r\nSet-Cookie: pwned=1", b"abc\nSet-Cookie: pwned=1", b"a" * 500, b"id\x7f"):
        status, data = await raw(
            open_gateway, get("/api/tasks", me.token, b"X-Request-ID: " + value + b"\r\n")
        )
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        assert b"pwned" not in head and b"a" * 200 not in head
        if status == 200:
            request_id = [h for h in head.split(b"\r\n") if h.startswith(b"x-request-id:")]
            assert len(request_id) == 1 and len(request_id[0]) < 200


async def test_user_text_never_reaches_a_header(client: httpx.AsyncClient) -> None:
    me = await new_user(client)
    hostile = "t\r\nSet-Cookie: pwned=1\r\nX-Injected: 1"
    task = await new_task(client, me, title=hostile, description=hostile + " https://example.invalid/x")
    answer = await client.get(f"/api/tasks/{task}", headers=me.auth)
    assert answer.json()["title"] == hostile
    assert "x-injected" not in answer.headers and "pwned" not in answer.headers.get("set-cookie", "")


SQL = [
    "'; DROP TABLE tasks; --",
    '" OR 1=1 --',
    "1'); DELETE FROM sessions; --",
    "$1 $2 %s %(x)s {0}",
    "Robert'); DROP TABLE chat_messages;--",
    "\\x00\\' OR ''='",
    "' UNION SELECT token_hash FROM sessions --",
    "😀 ünïcödé 'quotes' \"double\" `back`",
    "E'\\\\'; SELECT pg_sleep(10); --",
]


async def test_sql_in_every_text_field_is_stored_verbatim(client: httpx.AsyncClient, stack: Stack) -> None:
    me = await new_user(client)
    ids = []
    for text in SQL:
        ids.append(await new_task(client, me, title=text, description=f"{text} and more words. Another one."))
        chat = await client.post("/api/chat", headers=me.auth, json={"message": text})
        assert chat.status_code == 200, chat.text
    for task_id, text in zip(ids, SQL, strict=True):
        task = (await client.get(f"/api/tasks/{task_id}", headers=me.auth)).json()
        assert task["title"] == text and task["description"].startswith(text)
    history = (await client.get(f"/api/chat/history/{me.user_id}?limit=500", headers=me.auth)).json()
    assert [m["content"] for m in history if m["role"] == "user"] == SQL
    conn = await asyncpg.connect(stack.pg.url)
    try:
        stored = await conn.fetch("SELECT title FROM tasks WHERE task_id = ANY($1::uuid[])", ids)
        assert sorted(r["title"] for r in stored) == sorted(SQL)
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"tasks", "task_steps", "sessions", "chat_messages"} <= tables
        assert await conn.fetchval("SELECT count(*) FROM sessions") > 0
    finally:
        await conn.close()


async def test_sql_in_ids_and_query_is_refused_not_run(client: httpx.AsyncClient) -> None:
    me = await new_user(client)
    for path in (
        f"/api/tasks/{quote(SQL[0])}",
        "/api/tasks?limit=1;DROP TABLE tasks",
        f"/api/chat/history/{quote(SQL[2])}",
    ):
        answer = await client.get(path, headers=me.auth)
        assert answer.status_code in (404, 422), (path, answer.status_code)
        json.dumps(answer.json())  # a JSON error, not a stack trace
    assert (await client.get("/api/tasks", headers=me.auth)).status_code == 200
