"""Workers crash and Redis forgets: every accepted task still completes, each step once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterator

import asyncpg
import httpx
import redis.asyncio as aioredis

from agent_common.devstack import Stack
from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done


@contextlib.contextmanager
def workers_stopped(stack: Stack) -> Iterator[None]:
    """Stop the regular workers (gracefully: a paused process would still hold a blocking
    read on the stream and receive messages), then start them again."""
    regular = list(stack.workers)
    for w in regular:
        w.stop()
    try:
        yield
    finally:
        stack.workers[:] = regular
        for w in regular:
            w.start()
        for w in regular:
            w.wait_ready()


async def _pending_for(rds: aioredis.Redis, consumer: str) -> int:
    info = await rds.xpending("task_queue", "workers")
    return next((int(c["pending"]) for c in info["consumers"] if c["name"] == consumer), 0)


async def test_killed_worker_steps_complete_elsewhere(
    stack: Stack, orch: httpx.AsyncClient, db: asyncpg.Pool, rds: aioredis.Redis, pages: PageServer
) -> None:
    # only the doomed worker runs while the tasks are handed out
    with workers_stopped(stack):
        doomed = stack.start_worker(WORKER_CONCURRENCY="16")
        doomed.wait_ready()
        user = new_user()
        before = pages.hits["/slow/ietf-1.html"]
        ids = [
            await submit(orch, user, f"Summarize {pages.url(f'/slow/ietf-1.html?delay=1.5&n={i}')}")
            for i in range(8)
        ]
        consumer = f"{socket.gethostname()}-{doomed.pid}"
        for _ in range(600):  # until it is fetching all eight (bounded: 30 s)
            if pages.hits["/slow/ietf-1.html"] - before >= 8:
                break
            await asyncio.sleep(0.05)
        assert await _pending_for(rds, consumer) == 8, "the doomed worker never held the steps"
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.proc.wait()

    tasks = await wait_done(orch, user, ids, timeout=60)
    assert {t["status"] for t in tasks.values()} == {"completed"}, tasks
    rows = await db.fetch(
        "SELECT task_id, seq, status, attempts, output IS NOT NULL AS has_output FROM task_steps"
        " WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, seq",
        ids,
    )
    assert len(rows) == 3 * len(ids)
    assert all(r["status"] == "completed" and r["has_output"] for r in rows)
    # the fetches that died with the worker ran again elsewhere: a second attempt, one output
    assert [r["attempts"] for r in rows if r["seq"] == 0] == [2] * len(ids)
    assert [r["attempts"] for r in rows if r["seq"] > 0] == [1] * 2 * len(ids)
    assert not await _dead_for(rds, ids)


async def _dead_for(rds: aioredis.Redis, ids: list[str]) -> list[str]:
    entries = await rds.xrange("task_queue:dead")
    return [f["task_id"] for _, f in entries if f.get("task_id") in ids]


async def test_redis_wiped_mid_flight_loses_nothing(
    stack: Stack, orch: httpx.AsyncClient, rds: aioredis.Redis, pages: PageServer
) -> None:
    user = new_user()
    ids = [
        await submit(orch, user, f"Summarize {pages.url(f'/slow/lwn-1.html?delay=1&n={i}')}")
        for i in range(12)
    ]
    await asyncio.sleep(0.5)  # some steps are being fetched, the rest wait in the stream
    await rds.flushall()
    tasks = await wait_done(orch, user, ids, timeout=60)
    assert {t["status"] for t in tasks.values()} == {"completed"}, tasks
    assert await rds.get(f"task:{ids[0]}:status") == "completed"


async def test_a_failed_step_runs_again_after_its_backoff_not_the_visibility_timeout(
    stack: Stack, orch: httpx.AsyncClient, pages: PageServer
) -> None:
    """A page that answers 503 twice: its fetch runs again after STEP_RETRY_BACKOFF_S, long
    before the (here five-minute) visibility timeout that used to set every retry's wait."""
    with workers_stopped(stack):
        worker = stack.start_worker(VISIBILITY_TIMEOUT_S="300", STEP_RETRY_BACKOFF_S="0.2")
        try:
            worker.wait_ready()
            user = new_user()
            target = f"/flaky/ietf-1.html?fails=2&n={user}"
            tid = await submit(orch, user, f"Summarize {pages.url(target)}")
            task = (await wait_done(orch, user, [tid], timeout=60))[tid]
        finally:
            worker.stop()
    assert task["status"] == "completed", task
    fetch = next(s for s in task["steps"] if s["type"] == "fetch_url")
    assert (fetch["attempts"], pages.targets[target]) == (3, 3)


async def test_step_delivered_too_often_goes_to_dead_letter(
    stack: Stack, orch: httpx.AsyncClient, db: asyncpg.Pool, rds: aioredis.Redis
) -> None:
    """A step whose worker never finishes (crashes every time) ends in task_queue:dead and
    its task fails with a clear error, instead of looping forever."""
    user = new_user()
    tid = await submit(orch, user, "A text whose step will look undeliverable. Two sentences.")
    await wait_done(orch, user, [tid])
    # make it look as if the step were running, then hand its message to a consumer that
    # takes it MAX_DELIVERIES (5) times and never acknowledges
    await db.execute("UPDATE tasks SET status = 'processing', result = NULL WHERE task_id = $1", tid)
    await db.execute("UPDATE task_steps SET status = 'processing' WHERE task_id = $1", tid)
    with workers_stopped(stack):
        mid = await rds.xadd("task_queue", {"task_id": tid, "seq": "0"})
        # as the worker would have: the reconciler then finds the message where it should be
        await db.execute(
            "UPDATE task_steps SET stream_id = $2, enqueued_at = now() WHERE task_id = $1", tid, mid
        )
        await rds.xreadgroup("workers", "ghost", {"task_queue": ">"}, count=100)
        for _ in range(4):
            await rds.xclaim("task_queue", "workers", "ghost", 0, [mid])
        pending = await rds.xpending_range("task_queue", "workers", min=mid, max=mid, count=1)
        assert pending[0]["times_delivered"] == 5
    task = (await wait_done(orch, user, [tid], timeout=30))[tid]
    assert task["status"] == "failed"
    assert "delivered 5 times" in task["error"] and "task_queue:dead" in task["error"], task["error"]
    dead = await rds.xrange("task_queue:dead")
    assert any(f.get("original_id") == mid and f.get("task_id") == tid for _, f in dead)
    assert await rds.get(f"task:{tid}:status") == "failed"


async def test_malformed_message_is_dead_lettered(rds: aioredis.Redis) -> None:
    mid = await rds.xadd("task_queue", {"junk": "1"})
    for _ in range(100):
        dead = await rds.xrange("task_queue:dead")
        if any(f.get("original_id") == mid for _, f in dead):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a malformed message was not moved to task_queue:dead")


async def test_a_worker_joins_the_group_at_start_and_leaves_it_at_sigterm(
    stack: Stack, rds: aioredis.Redis
) -> None:
    """The group's consumers are the live workers: a new one is listed before it reads
    anything, and a clean exit with nothing pending removes it."""
    worker = stack.start_worker()
    try:
        worker.wait_ready()
        name = f"{socket.gethostname()}-{worker.pid}"
        consumers = {c["name"] for c in await rds.xinfo_consumers("task_queue", "workers")}
        assert name in consumers
    finally:
        assert worker.stop() == 0
        stack.workers.remove(worker)
    consumers = {c["name"] for c in await rds.xinfo_consumers("task_queue", "workers")}
    assert name not in consumers


async def test_a_lost_step_record_does_not_fail_its_task(
    stack: Stack, orch: httpx.AsyncClient, db: asyncpg.Pool, rds: aioredis.Redis, pages: PageServer
) -> None:
    """Workers commit asynchronously: a PostgreSQL crash can lose a completed step's record
    after its message was acknowledged and the next step's message was sent. That next step
    must not run without its input (extract_text then failed the task for good): it waits,
    the lost step runs again, and the task completes."""
    user = new_user()
    with workers_stopped(stack):
        tid = await submit(orch, user, f"Summarize {pages.url('/pages/bbc-1.html?lost=1')}")
        (fetch_mid,) = [mid for mid, f in await rds.xrange("task_queue") if f.get("task_id") == tid]
        # what the crash leaves: fetch_1 claimed but its completion lost, its message gone,
        # extract_1's message on the stream
        await db.execute("UPDATE tasks SET status = 'processing' WHERE task_id = $1", tid)
        await db.execute(
            "UPDATE task_steps SET status = 'processing', attempts = 1, started_at = now(),"
            " stream_id = $2 WHERE task_id = $1 AND seq = 0",
            tid,
            fetch_mid,
        )
        await rds.xack("task_queue", "workers", fetch_mid)
        await rds.xdel("task_queue", fetch_mid)
        await rds.xadd("task_queue", {"task_id": tid, "seq": "1"})
    task = (await wait_done(orch, user, [tid], timeout=60))[tid]
    assert task["status"] == "completed", task
    assert [(s["id"], s["status"], s["attempts"]) for s in task["steps"]] == [
        ("fetch_1", "completed", 2),
        ("extract_1", "completed", 1),
        ("summarize_1", "completed", 1),
    ]
    assert task["result"].startswith("Summary: ")
