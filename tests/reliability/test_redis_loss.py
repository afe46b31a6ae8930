"""Redis stopped and started again empty while tasks are submitted and running: no accepted
task is lost. The orchestrator still accepts (the task is in PostgreSQL), the gateway's
rate limiter falls back to memory, the workers recreate the group and the reconciler
refills the stream from PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from agent_common.devstack import Stack
from tests.reliability.support import TEXT, Api, no_server_errors, report, steady_load, wait_tasks
from tests.support.pageserver import PageServer


async def run_scenario(
    stack: Stack,
    api: Api,
    db: asyncpg.Pool,
    pages: PageServer,
    *,
    seconds: float,
    per_s: float,
    down_s: float,
    name: str,
) -> None:
    sessions = await api.sessions(8)

    def description(i: int) -> str:  # half slow URL tasks (in flight at the wipe), half text
        return f"Summarize {pages.url(f'/slow/lwn-1.html?delay=0.5&n={i}')}" if i % 2 else f"{i}. {TEXT}"

    load = asyncio.create_task(
        steady_load(api, sessions, per_s=per_s, seconds=seconds, description=description)
    )
    await asyncio.sleep(seconds / 3)
    stack.redis.wipe()  # stopped, its files deleted
    await asyncio.sleep(down_s)
    stack.redis.start()  # empty: no stream, no group, no mirror keys
    back = time.monotonic()
    await load
    counts = await wait_tasks(db, api.accepted, timeout=90)
    recovery = time.monotonic() - back
    statuses = api.statuses()
    report(
        name,
        submitted=len([a for a in api.answers if a.kind == "task"]),
        accepted=len(api.accepted),
        completed=counts["completed"],
        lost=len(api.accepted) - counts["completed"],
        answers=dict(statuses),
        redis_down_s=down_s,
        all_done_after_s=round(recovery, 1),
    )
    no_server_errors(api.answers)
    assert counts["completed"] == len(api.accepted), counts
    # the stack takes tasks while Redis is away: nearly every submission is accepted
    assert len(api.accepted) >= 0.9 * len([a for a in api.answers if a.kind == "task"])


async def test_redis_restarted_empty_under_load(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(rstack, api, rdb, pages, seconds=6, per_s=10, down_s=1.5, name="redis-wipe short")


@pytest.mark.reliability_long
async def test_redis_restarted_empty_under_heavier_load(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(rstack, api, rdb, pages, seconds=30, per_s=20, down_s=5, name="redis-wipe long")
