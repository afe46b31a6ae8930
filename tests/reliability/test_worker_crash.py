"""Workers killed with SIGKILL at random while URL tasks run against a slow page: every task
completes and each step's effect is recorded once (one output, one fetch per recorded
attempt, no dead letters)."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg
import pytest

from agent_common.devstack import Stack
from tests.reliability.support import Api, kill9, report, step_rows, wait_tasks
from tests.support.pageserver import PageServer


async def chaos(stack: Stack, kills: int, every: tuple[float, float], rng: random.Random) -> int:
    """Kill a random worker, start it again, wait; `kills` times (bounded)."""
    done = 0
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(*every))
        victim = rng.choice(stack.workers)
        if victim.alive():
            kill9(victim)
            done += 1
        victim.start()
    return done


async def run_scenario(
    stack: Stack,
    api: Api,
    db: asyncpg.Pool,
    pages: PageServer,
    *,
    tasks: int,
    delay: float,
    kills: int,
    every: tuple[float, float],
    name: str,
) -> None:
    rng = random.Random(tasks)  # noqa: S311 - chaos, not cryptography
    run = f"{time.time_ns()}"
    urls = [pages.url(f"/slow/ietf-1.html?delay={delay}&run={run}&n={i}") for i in range(tasks)]
    sessions = await api.sessions(10)
    started = time.monotonic()
    answers = await asyncio.gather(
        *(api.submit(sessions[i % 10], f"Summarize {u}") for i, u in enumerate(urls))
    )
    assert [a.status for a in answers] == [202] * tasks
    ids = [a.body["task_id"] for a in answers]
    killed = await chaos(stack, kills, every, rng)
    counts = await wait_tasks(db, ids, timeout=60 + tasks * delay)
    elapsed = time.monotonic() - started
    rows = await step_rows(db, ids)
    by_task = {}
    for r in rows:
        by_task.setdefault(r["task_id"], []).append(r)
    retried = sum(r["attempts"] - 1 for r in rows)
    report(
        name,
        tasks=tasks,
        completed=counts["completed"],
        lost=tasks - counts["completed"],
        kills=killed,
        extra_attempts=retried,
        seconds=round(elapsed, 1),
    )
    assert counts["completed"] == tasks, counts
    assert len(rows) == 3 * tasks
    assert all(r["status"] == "completed" and r["has_output"] for r in rows)
    # a killed worker's step runs again (attempts > 1); never more often than there were kills
    assert all(1 <= r["attempts"] <= 1 + killed for r in rows)
    # the fetch happened at most once per recorded attempt: no run that left no record
    for i, tid in enumerate(ids):
        fetch = by_task[tid][0]
        hits = pages.targets[urls[i].removeprefix(pages.base)]
        assert 1 <= hits <= fetch["attempts"], (tid, hits, fetch["attempts"])
    dead = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE task_id = ANY($1::uuid[]) AND error IS NOT NULL", ids
    )
    assert dead == 0


async def test_workers_killed_at_random(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(
        rstack, api, rdb, pages, tasks=24, delay=0.5, kills=3, every=(0.3, 0.8), name="worker-kill short"
    )


@pytest.mark.reliability_long
@pytest.mark.timeout(600)
async def test_workers_killed_at_random_200_tasks(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(
        rstack, api, rdb, pages, tasks=200, delay=1.0, kills=12, every=(0.5, 2.0), name="worker-kill 200"
    )
