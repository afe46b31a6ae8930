"""The metrics on each service's /metrics move as they should: scraped before and after a
chat, a task, a failed step, a dead letter, a lost message the reconciler puts back, rate
limiting and new sessions, and compared by difference."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from agent_common import queue
from agent_common.devstack import Stack
from tests.observability.conftest import MODEL, PRICE, Traced, wait_until
from tests.support.llm_standins import Reply
from tests.support.pageserver import TEXT_ARTICLE, PageServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
STEPS = ("fetch_url", "extract_text", "summarize")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def scrape(traced: Traced, service: str) -> Samples:
    text = httpx.get(traced.metrics_url(service), timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Delta:
    """Samples of one service before, and the difference after, what the test does."""

    def __init__(self, traced: Traced, service: str) -> None:
        self.traced, self.service = traced, service
        self.before = scrape(traced, service)

    def __call__(self, name: str, **labels: str) -> float:
        return value(scrape(self.traced, self.service), name, **labels) - value(self.before, name, **labels)

    def becomes(self, expected: float, name: str, **labels: str) -> None:
        """Wait for the difference (a worker counts a step just after recording it)."""
        wait_until(lambda: self(name, **labels) == expected, timeout=15)
        got = self(name, **labels)
        assert got == expected, f"{self.service} {name}{labels}: {got}, expected {expected}"


def requests(service: str, method: str, route: str, status: int) -> dict[str, str]:
    return {"service": service, "method": method, "route": route, "status": str(status)}


def wait_task(traced: Traced, headers: dict[str, str], task_id: str) -> dict:  # type: ignore[type-arg]
    def terminal() -> dict | None:  # type: ignore[type-arg]
        task = httpx.get(f"{traced.urls['gateway']}/api/tasks/{task_id}", headers=headers, timeout=10).json()
        return task if task["status"] in ("completed", "failed", "cancelled") else None

    task = wait_until(terminal, timeout=60)
    assert task, f"task {task_id} did not finish"
    return task


def submit(traced: Traced, headers: dict[str, str], description: str) -> str:
    created = httpx.post(
        f"{traced.urls['gateway']}/api/task",
        headers=headers,
        timeout=10,
        json={"title": "metrics", "description": description},
    )
    assert created.status_code == 202, created.text
    return str(created.json()["task_id"])


def test_a_chat_counts_requests_tokens_and_cost(traced: Traced) -> None:
    traced.llm.reset()
    traced.llm.queue(Reply("Hello from the model."))
    user, headers = traced.session()
    gateway, chat = Delta(traced, "gateway"), Delta(traced, "chat")
    answer = httpx.post(
        f"{traced.urls['gateway']}/api/chat", json={"message": "hi"}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    [(prompt, completion)] = traced.llm.usage_sent

    gateway.becomes(1, "http_requests_total", **requests("gateway", "POST", "/api/chat", 200))
    latency = {"service": "gateway", "method": "POST", "route": "/api/chat"}
    assert gateway("http_request_duration_seconds_count", **latency) == 1
    chat.becomes(1, "http_requests_total", **requests("chat", "POST", "/chat", 200))
    model = {"provider": "openai", "model": MODEL}
    assert chat("llm_tokens_total", **model, kind="prompt") == prompt
    assert chat("llm_tokens_total", **model, kind="completion") == completion
    assert chat("llm_requests_total", **model, outcome="ok") == 1
    cost = sum(chat("llm_cost_usd_total", **model, kind=kind) for kind in ("prompt", "completion"))
    usd = Decimal(str(PRICE["input"])) * prompt + Decimal(str(PRICE["output"])) * completion
    expected = usd / 1_000_000
    assert cost == pytest.approx(float(expected))
    assert chat("chat_answers_total", provider="openai", outcome="ok") == 1
    assert answer.json()["usage"] == {"prompt_tokens": prompt, "completion_tokens": completion}
    # the history keeps them with the answer (the page shows them under it)
    history = httpx.get(
        f"{traced.urls['gateway']}/api/chat/history/{user}", headers=headers, timeout=10
    ).json()
    assert {k: history[-1][k] for k in ("role", "model", "prompt_tokens", "completion_tokens")} == {
        "role": "assistant",
        "model": MODEL,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }


def test_a_task_counts_each_step_and_its_duration(traced: Traced, pages: PageServer) -> None:
    _, headers = traced.session()
    gateway, orch, worker = Delta(traced, "gateway"), Delta(traced, "orchestrator"), Delta(traced, "worker")
    task_id = submit(traced, headers, f"Summarize {pages.url('/pages/mozilla-1.html')}")
    assert wait_task(traced, headers, task_id)["status"] == "completed"
    for step in STEPS:
        worker.becomes(1, "worker_steps_total", type=step, outcome="completed")
        assert worker("worker_step_duration_seconds_count", type=step) == 1
    assert gateway("http_requests_total", **requests("gateway", "POST", "/api/task", 202)) == 1
    assert orch("http_requests_total", **requests("orchestrator", "POST", "/task", 202)) == 1
    # the poll for its status: one route label for every task id
    assert gateway("http_requests_total", **requests("gateway", "GET", "/api/tasks/{id}", 200)) >= 1
    assert orch("http_requests_total", **requests("orchestrator", "GET", "/task/{task_id}", 200)) >= 1


def test_a_failed_step_is_counted_as_failed(traced: Traced, pages: PageServer) -> None:
    _, headers = traced.session()
    worker = Delta(traced, "worker")
    task_id = submit(traced, headers, f"Summarize {pages.url('/status/404')}")
    task = wait_task(traced, headers, task_id)
    assert task["status"] == "failed" and "HTTP 404" in task["error"]
    worker.becomes(1, "worker_steps_total", type="fetch_url", outcome="failed")
    assert worker("worker_steps_total", type="fetch_url", outcome="completed") == 0
    assert worker("worker_step_duration_seconds_count", type="fetch_url") == 1


async def test_a_dead_letter_is_counted_and_the_dead_stream_grows(
    traced: Traced, traced_redis: aioredis.Redis
) -> None:
    worker = Delta(traced, "worker")
    dead_before = value(worker.before, "task_queue_dead_length")
    await traced_redis.xadd(queue.STREAM, {"task_id": "not-a-task"})  # no seq: cannot be run
    worker.becomes(1, "worker_dead_letters_total")
    worker.becomes(1, "task_queue_dead_length")
    assert await traced_redis.xlen(queue.DEAD_STREAM) == dead_before + 1


async def test_a_lost_message_is_put_back_by_the_reconciler_and_counted(
    traced: Traced, traced_db: asyncpg.Pool
) -> None:
    """A task whose step PostgreSQL holds as due but no stream holds (Redis lost it)."""
    worker = Delta(traced, "worker")
    task_id, user = uuid.uuid4(), f"obs-{uuid.uuid4().hex[:8]}"
    async with traced_db.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO tasks (task_id, user_id, title, description) VALUES ($1, $2, 't', $3)",
            task_id,
            user,
            TEXT_ARTICLE,
        )
        await conn.execute(
            "INSERT INTO task_steps (task_id, seq, step_id, type, params, enqueued_at)"
            " VALUES ($1, 0, 'summarize_1', 'summarize', $2, now() - interval '1 minute')",
            task_id,
            json.dumps({"text": TEXT_ARTICLE}),
        )
    worker.becomes(1, "worker_reconciler_requeued_total")
    worker.becomes(1, "worker_steps_total", type="summarize", outcome="completed")
    assert await traced_db.fetchval("SELECT status FROM tasks WHERE task_id = $1", task_id) == "completed"


def test_the_queue_gauges_match_the_stream_when_idle(traced: Traced) -> None:
    samples = wait_until(
        lambda: (
            (s := scrape(traced, "worker"))
            and value(s, "task_queue_length") == 0
            and value(s, "task_queue_pending") == 0
            and s
        ),
        timeout=20,
    )
    assert samples, "the queue did not drain"
    assert value(samples, "task_queue_lag") == 0
    assert value(samples, "task_queue_consumers") >= 1
    assert ("worker_steps_in_flight", frozenset()) in samples


async def test_queue_stats_count_pending_and_unread_messages(infra: Stack) -> None:
    """The figures behind the gauges, on a stream of known shape (its own Redis database)."""
    client = aioredis.Redis.from_url(infra.redis.url.rsplit("/", 1)[0] + "/6", decode_responses=True)
    try:
        await client.flushdb()
        await queue.ensure_group(client)
        for seq in range(3):
            await client.xadd(queue.STREAM, {"task_id": str(uuid.uuid4()), "seq": str(seq)})
        await queue.read(client, "c1", count=1, block_ms=10)
        await client.xadd(queue.DEAD_STREAM, {"reason": "test"})
        stats = await queue.stats(client)
        assert (stats.length, stats.pending, stats.lag, stats.consumers, stats.dead) == (3, 1, 2, 1, 1)
    finally:
        await client.flushdb()
        await client.aclose()


def test_rate_limit_refusals_are_counted(traced: Traced) -> None:
    _, headers = traced.session()
    gateway = Delta(traced, "gateway")
    with httpx.Client(base_url=traced.urls["gateway"], headers=headers, timeout=10) as client:
        statuses = [client.get("/api/tasks").status_code for _ in range(60)]  # capacity 30, 5 per s
    refused = statuses.count(429)
    assert refused > 0 and set(statuses) == {200, 429}
    gateway.becomes(refused, "gateway_rate_limited_total", bucket="session", reason="limit")
    assert gateway("http_requests_total", **requests("gateway", "GET", "/api/tasks", 429)) == refused


async def test_active_sessions_follow_the_session_store(traced: Traced, traced_db: asyncpg.Pool) -> None:
    async def live() -> int:
        return int(
            await traced_db.fetchval(
                "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now()"
            )
        )

    _, headers = traced.session()
    expected = await live()
    assert wait_until(lambda: value(scrape(traced, "gateway"), "gateway_sessions_active") == expected)
    revoked = httpx.post(f"{traced.urls['gateway']}/api/session/revoke", headers=headers, timeout=10)
    assert revoked.status_code == 200
    assert await live() == expected - 1
    assert wait_until(lambda: value(scrape(traced, "gateway"), "gateway_sessions_active") == expected - 1)


def test_labels_stay_bounded(traced: Traced) -> None:
    """Route templates, never raw paths: no task or user id in any label of any service."""
    for service in ("gateway", "orchestrator", "chat", "frontend", "worker"):
        for (name, labels), _ in scrape(traced, service).items():
            for key, label in labels:
                assert not UUID.search(label), f"{service} {name} {key}={label}"
