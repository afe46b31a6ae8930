"""Upstream failures through the real SDKs: each maps to 502/503/504 JSON that says what
happened, the user's message stays stored (with the failure noted), nothing half-done is
stored as an answer; mid-stream failures end the stream with an error event; a client
that disconnects mid-stream makes the chat service hang up on the provider."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tests.chat.conftest import LLMChat
from tests.chat.helpers import rows, send, stream
from tests.support.llm_standins import Reply
from tests.support.tasks import new_user

FAILURES = [
    ("401", 502, "refused the credentials (HTTP 401); check {key}"),
    ("429", 503, "rate limiting requests (HTTP 429); retry in 7s"),
    ("500", 502, "API failed (HTTP 500)"),
    ("529", 503, "overloaded or unavailable"),
    ("timeout", 504, "did not answer within 1.5s"),
    ("broken", 502, "broke off before it was complete"),
]
KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


async def assert_failure_recorded(db: asyncpg.Pool, user: str, message: str, detail: str) -> None:
    stored = await rows(db, user)
    assert [(m["role"], m["content"]) for m in stored] == [("user", message)], "no answer may be stored"
    assert stored[0]["error"] == detail and stored[0]["latency_ms"] is not None


@pytest.mark.parametrize("mode, status, words", FAILURES, ids=[f[0] for f in FAILURES])
async def test_failure_maps_to_a_status_and_keeps_the_message(
    llm_chat: LLMChat, db: asyncpg.Pool, mode: str, status: int, words: str
) -> None:
    llm_chat.standin.mode = mode
    user = new_user()
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        r = await send(client, user, f"please answer ({mode})")
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert llm_chat.provider in detail and words.format(key=KEYS[llm_chat.provider]) in detail
    if mode == "429":
        assert r.headers["retry-after"] == "7"
    if mode == "timeout":
        assert time.monotonic() - started < 4, "the chat must give up at LLM_TIMEOUT_S, not wait it out"
    await assert_failure_recorded(db, user, f"please answer ({mode})", detail)
    # the next message works again and sees the failed one in its context
    llm_chat.standin.mode = "ok"
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        assert (await send(client, user, "and now?")).status_code == 200
    texts = [t for m in llm_chat.standin.requests[-1]["messages"] for t in [str(m.get("content"))]]
    assert any(f"please answer ({mode})" in t for t in texts)


@pytest.mark.parametrize("mode, status", [("500", 502), ("401", 502), ("timeout", 504)])
async def test_stream_failing_before_any_text_is_a_plain_json_error(
    llm_chat: LLMChat, db: asyncpg.Pool, mode: str, status: int
) -> None:
    llm_chat.standin.mode = mode
    user = new_user()
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, "stream please")
    assert result.status == status and result.content_type.startswith("application/json")
    await assert_failure_recorded(db, user, "stream please", result.events[0].data["detail"])


@pytest.mark.parametrize(
    "mode, status, words", [("broken", 502, "broke off"), ("stall", 504, "did not answer")]
)
async def test_stream_failing_midway_ends_with_an_error_event(
    llm_chat: LLMChat, db: asyncpg.Pool, mode: str, status: int, words: str
) -> None:
    llm_chat.standin.mode = mode
    llm_chat.standin.hang_s = 3.0
    llm_chat.standin.queue(Reply("one two three four five six seven eight nine ten eleven twelve"))
    user = new_user()
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, "stream please")
    assert result.status == 200
    names = [e.name for e in result.events]
    assert names[0] == "delta" and names[-1] == "error" and "done" not in names
    error = result.events[-1].data
    assert error["status"] == status and words in error["detail"]
    await assert_failure_recorded(db, user, "stream please", error["detail"])


async def test_client_disconnect_cancels_the_upstream_call(llm_chat: LLMChat, db: asyncpg.Pool) -> None:
    standin = llm_chat.standin
    standin.queue(Reply(" ".join(f"word{i}" for i in range(60)), chunk_delay_s=0.1))  # about 6 s
    user = new_user()
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, "a long answer please", stop_after_deltas=3)
    closed_at = time.monotonic()
    assert len(result.named("delta")) == 3
    while standin.disconnects == 0 and time.monotonic() - closed_at < 3:
        await asyncio.sleep(0.05)
    assert standin.disconnects == 1, "the chat service kept the provider's stream open"
    assert standin.completed_streams == 0
    print(f"upstream closed {time.monotonic() - closed_at:.2f}s after the client left")
    # the message is kept, marked as cut off; no partial answer is stored
    deadline = time.monotonic() + 3
    while (await rows(db, user))[0]["error"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await assert_failure_recorded(
        db, user, "a long answer please", "the answer was cut off: the client disconnected"
    )


async def test_unreachable_provider_is_503(stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Nothing listens at LLM_BASE_URL: connection refused is 'unreachable', 503."""
    from agent_common.devstack import ServiceProcess, free_port
    from tests.conftest import LLM_ENV

    dead, port = free_port(), free_port()
    proc = ServiceProcess(
        "chat-unreachable",
        "agent_chat",
        {
            **stack.env(),
            **LLM_ENV,
            "PORT": str(port),
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": f"http://127.0.0.1:{dead}/v1",
        },
        ready_url=f"http://127.0.0.1:{port}/ready",
        log_dir=tmp_path,
    )
    proc.start()
    try:
        proc.wait_ready()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            r = await send(client, new_user(), "anyone there?")
        assert r.status_code == 503
        assert r.json()["detail"] == f"could not connect to the openai API at http://127.0.0.1:{dead}/v1/"
    finally:
        proc.stop()
