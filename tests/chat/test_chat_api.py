"""The chat API over real HTTP against the stack's (offline) chat service: round trips,
bad bodies, identity, history isolation and order, streaming, health and metrics."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from agent_common.devstack import Stack
from tests.chat.helpers import rows, send, stream
from tests.support.tasks import new_user

MAX_CHARS = 12_000  # ChatSettings.chat_message_max_chars default


async def test_round_trip_is_stored_with_its_accounting(chat: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user = new_user()
    r = await send(chat, user, "hello")
    assert r.status_code == 200, r.text
    body = r.json()
    assert "offline assistant" in body["response"] and "LLM_PROVIDER" in body["response"]
    assert isinstance(body["chat_id"], int)
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0} and body["cost_usd"] is None
    stored = await rows(db, user)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "hello"), ("assistant", body["response"])]
    answer = stored[1]
    assert answer["id"] == body["chat_id"]
    assert answer["model"] == "offline" and answer["prompt_tokens"] == 0 and answer["completion_tokens"] == 0
    assert answer["latency_ms"] is not None and answer["latency_ms"] >= 0
    assert answer["cost_usd"] is None and answer["error"] is None


@pytest.mark.parametrize(
    "content, status",
    [
        (b"{}", 422),
        (b'{"message": ""}', 422),
        (b'{"message": "   \\n\\t "}', 422),
        (('{"message": "' + "x" * (MAX_CHARS + 1) + '"}').encode(), 422),
        (b'{"message": 5}', 422),
        (b'{"message": null}', 422),
        (b'{"message": ["hi"]}', 422),
        (b'{"message": {"text": "hi"}}', 422),
        (b'{"message": "hi", "stream": true}', 422),
        (b'{"message": "nul \\u0000 inside"}', 422),
        (b'["hi"]', 422),
        (b'{"message": "hi"', 400),
        (b"not json at all", 400),
        (b"", 422),
        (b'{"message": "' + b"y" * 70_000 + b'"}', 413),
    ],
    ids=[
        "no-field",
        "empty",
        "blank",
        "over-length",
        "number",
        "null",
        "list",
        "object",
        "extra-field",
        "nul",
        "array-body",
        "truncated-json",
        "not-json",
        "no-body",
        "over-body-limit",
    ],
)
async def test_bad_bodies_get_4xx_json_and_store_nothing(
    chat: httpx.AsyncClient, db: asyncpg.Pool, content: bytes, status: int
) -> None:
    user = new_user()
    r = await chat.post(
        "/chat", content=content, headers={"X-User-Id": user, "Content-Type": "application/json"}
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "detail" in r.json()
    assert await rows(db, user) == []


async def test_longest_allowed_message_is_accepted(chat: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user = new_user()
    r = await send(chat, user, "z" * MAX_CHARS)
    assert r.status_code == 200, r.text
    assert len((await rows(db, user))[0]["content"]) == MAX_CHARS


async def test_a_message_needs_a_user(chat: httpx.AsyncClient) -> None:
    r = await chat.post("/chat", json={"message": "hi"})
    assert r.status_code == 401 and "detail" in r.json()


async def test_history_is_oldest_first_and_only_ones_own(chat: httpx.AsyncClient) -> None:
    alice, bob = new_user(), new_user()
    for text in ("hi", "help"):
        assert (await send(chat, alice, text)).status_code == 200
    assert (await send(chat, bob, "hello")).status_code == 200

    r = await chat.get(f"/chat/history/{alice}", headers={"X-User-Id": alice})
    assert r.status_code == 200
    history = r.json()
    assert [(m["role"], m["content"]) for m in history][::2] == [("user", "hi"), ("user", "help")]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert all(
        set(m) == {"role", "content", "created_at", "model", "prompt_tokens", "completion_tokens"}
        for m in history
    )
    # an answer carries its model and tokens (the offline assistant counts none); a message none
    assert [(m["model"], m["prompt_tokens"]) for m in history] == [(None, None), ("offline", 0)] * 2
    assert [m["created_at"] for m in history] == sorted(m["created_at"] for m in history)

    peek = await chat.get(f"/chat/history/{alice}", headers={"X-User-Id": bob})
    assert peek.status_code == 404 and "detail" in peek.json()
    assert len((await chat.get(f"/chat/history/{bob}", headers={"X-User-Id": bob})).json()) == 2
    assert (await chat.get(f"/chat/history/{alice}")).status_code == 401
    stranger = new_user()
    assert (await chat.get(f"/chat/history/{stranger}", headers={"X-User-Id": stranger})).json() == []


async def test_history_limit_keeps_the_latest(chat: httpx.AsyncClient) -> None:
    user = new_user()
    for text in ("hi", "hello", "hey"):
        await send(chat, user, text)
    r = await chat.get(f"/chat/history/{user}", params={"limit": 4}, headers={"X-User-Id": user})
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()][::2] == ["hello", "hey"]
    bad = await chat.get(f"/chat/history/{user}", params={"limit": 0}, headers={"X-User-Id": user})
    assert bad.status_code == 422


async def test_offline_answer_streams_as_sse(stack: Stack, chat: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    user = new_user()
    result = await stream(chat, stack.url("chat"), user, "help")
    assert result.status == 200 and result.content_type.startswith("text/event-stream")
    names = [e.name for e in result.events]
    assert names.count("delta") > 3 and names[-1] == "done" and set(names) == {"delta", "done"}
    done = result.named("done")[0].data
    assert done["response"] == result.text and isinstance(done["chat_id"], int)
    assert done["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    stored = await rows(db, user)
    assert stored[-1]["content"] == result.text and stored[-1]["id"] == done["chat_id"]


async def test_health_ready_metrics(chat: httpx.AsyncClient) -> None:
    assert (await chat.get("/health")).json() == {"status": "ok"}
    ready = await chat.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    await send(chat, new_user(), "hi")
    metrics = (await chat.get("/metrics")).text
    assert 'chat_answers_total{outcome="ok",provider="offline"}' in metrics


async def test_accept_header_picks_sse_or_json(chat: httpx.AsyncClient) -> None:
    user = new_user()
    for accept, kind in (
        ("text/event-stream, application/json;q=0.5", "text/event-stream"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ):
        r = await chat.post("/chat", json={"message": "hi"}, headers={"X-User-Id": user, "Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), accept
