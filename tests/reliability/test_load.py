"""Load through the gateway: N task submissions and M chats all at once (a rate limit high
enough that 429s cannot hide anything): 0 errors, every task completes. Prints the
throughput and latency percentiles (also kept in test-artifacts/reliability.txt)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from agent_common.devstack import Stack
from tests.reliability.support import TEXT, Api, percentile, report, wait_tasks

# all requests are sent at once and queue up: the last waits for the ones before it
LOAD_TIMEOUT_S = 60.0


async def run_scenario(api: Api, db: asyncpg.Pool, *, tasks: int, chats: int, name: str) -> None:
    sessions = await api.sessions(max(1, tasks // 20))
    started = time.monotonic()
    submitted = [
        api.submit(sessions[i % len(sessions)], f"Load {i}. {TEXT}", title=f"load {i}") for i in range(tasks)
    ]
    chatted = [api.chat(sessions[i % len(sessions)], f"hello {i}") for i in range(chats)]
    answers = await asyncio.gather(*submitted, *chatted)
    submit_s = time.monotonic() - started
    counts = await wait_tasks(db, api.accepted, timeout=60 + tasks / 10)
    done_s = time.monotonic() - started
    task_lat = [a.seconds for a in answers if a.kind == "task"]
    chat_lat = [a.seconds for a in answers if a.kind == "chat"]
    errors = [a for a in answers if a.status not in (200, 202)]
    report(
        name,
        tasks=tasks,
        chats=chats,
        errors=len(errors),
        completed=counts["completed"],
        lost=tasks - counts["completed"],
        requests_per_s=round(len(answers) / submit_s),
        task_p50_ms=round(percentile(task_lat, 0.5) * 1000),
        task_p99_ms=round(percentile(task_lat, 0.99) * 1000),
        chat_p99_ms=round(percentile(chat_lat, 0.99) * 1000),
        all_answered_s=round(submit_s, 1),
        all_completed_s=round(done_s, 1),
        tasks_per_s=round(tasks / done_s, 1),
    )
    assert not errors, errors[:5]
    assert counts["completed"] == tasks, counts


async def test_concurrent_tasks_and_chats(rstack: Stack, rdb: asyncpg.Pool) -> None:
    async with Api(rstack.url("gateway"), timeout=LOAD_TIMEOUT_S, raw=True) as api:
        await run_scenario(api, rdb, tasks=200, chats=40, name="load short")


@pytest.mark.reliability_long
async def test_1000_tasks_and_200_chats_at_once(rstack: Stack, rdb: asyncpg.Pool) -> None:
    async with Api(rstack.url("gateway"), timeout=LOAD_TIMEOUT_S, raw=True) as api:
        await run_scenario(api, rdb, tasks=1000, chats=200, name="load 1000+200")
