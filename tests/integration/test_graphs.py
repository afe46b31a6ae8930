"""Plans as graphs on the real system (PostgreSQL, Redis, two workers, pages served by a
local server): branches run at the same time, a join runs once, cancel stops every branch,
and a failed optional branch leaves the join to say what is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from agent_common.devstack import Stack
from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done
from tests.worker.test_recovery import workers_stopped

PAGES = ("bbc-1", "lwn-1", "ietf-1")


def steps_by_id(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in task["steps"]}


def interval(step: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(step["started_at"]), datetime.fromisoformat(step["finished_at"])


async def get(orch: httpx.AsyncClient, user: str, tid: str) -> dict[str, Any]:
    r = await orch.get(f"/task/{tid}", headers={"X-User-Id": user})
    assert r.status_code == 200, r.text
    return r.json()


async def until(
    orch: httpx.AsyncClient, user: str, tid: str, check: Any, timeout: float = 30
) -> dict[str, Any]:
    """Poll the task until check(task) holds (bounded)."""
    for _ in range(int(timeout / 0.05)):
        task = await get(orch, user, tid)
        if check(task):
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {task}")


async def test_three_slow_branches_run_at_the_same_time_then_join(
    orch: httpx.AsyncClient, pages: PageServer
) -> None:
    user = new_user()
    urls = [pages.url(f"/slow/{name}.html?delay=1.5") for name in PAGES]
    tid = await submit(orch, user, f"Summarize and compare {urls[0]}, {urls[1]} and {urls[2]}")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    assert task["plan_source"] == "rules" and task["plan_note"] is None
    steps = steps_by_id(task)
    assert set(steps) == {"fetch_1", "fetch_2", "fetch_3", "extract_1", "extract_2", "extract_3", "compare"}
    assert steps["compare"]["depends_on"] == ["extract_1", "extract_2", "extract_3"]
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in steps.values())
    # the three fetches were running at one moment: each started before any of them ended
    fetches = [interval(steps[f"fetch_{n}"]) for n in (1, 2, 3)]
    assert max(start for start, _ in fetches) < min(end for _, end in fetches), fetches
    # the join ran after the last branch, once
    joined_at = interval(steps["compare"])[0]
    assert all(interval(steps[f"extract_{n}"])[1] <= joined_at for n in (1, 2, 3))
    assert [t["url"] for t in steps["compare"]["output"]["texts"]] == urls
    assert task["result"] == steps["compare"]["output"]["summary"] and task["result"]


async def test_many_joins_each_run_exactly_once(
    orch: httpx.AsyncClient, db: asyncpg.Pool, pages: PageServer
) -> None:
    """Branches that finish together on two workers: every join runs, and only once."""
    user = new_user()
    ids = []
    for i in range(24):
        urls = [pages.url(f"/pages/{name}.html?n={i}") for name in PAGES]
        ids.append(await submit(orch, user, f"Compare {urls[0]}, {urls[1]} and {urls[2]}"))
    tasks = await wait_done(orch, user, ids, timeout=120)
    errors = [t["error"] for t in tasks.values() if t["error"]]
    assert {t["status"] for t in tasks.values()} == {"completed"}, errors[:3]
    joins = await db.fetch(
        "SELECT attempts, status FROM task_steps WHERE task_id = ANY($1::uuid[]) AND type = 'compare'", ids
    )
    assert [(r["attempts"], r["status"]) for r in joins] == [(1, "completed")] * len(ids)


async def test_a_failed_optional_branch_leaves_the_join_to_say_what_is_missing(
    orch: httpx.AsyncClient, pages: PageServer
) -> None:
    user = new_user()
    good, gone = pages.url("/pages/bbc-1.html"), pages.url("/status/404")
    other = pages.url("/pages/lwn-1.html")
    tid = await submit(orch, user, f"Compare {good}, {gone} and {other}")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    steps = steps_by_id(task)
    assert steps["fetch_2"]["status"] == "failed" and "404" in steps["fetch_2"]["error"]
    assert steps["extract_2"]["status"] == "skipped"
    assert steps["extract_2"]["error"].startswith("skipped: fetch_2 failed (")
    missing = steps["compare"]["output"]["missing"]
    assert [m["step_id"] for m in missing] == ["extract_2"] and "404" in missing[0]["error"]
    assert [t["url"] for t in steps["compare"]["output"]["texts"]] == [good, other]
    assert "Not available:" in task["result"] and "extract_2" in task["result"]


async def test_every_branch_failing_fails_the_task_with_the_reasons(
    orch: httpx.AsyncClient, pages: PageServer
) -> None:
    user = new_user()
    tid = await submit(orch, user, f"Compare {pages.url('/status/404')} and {pages.url('/status/410')}")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "failed"
    assert task["error"].startswith("compare failed: nothing to compare: extract_1 failed (skipped: fetch_1")
    assert "410" in task["error"]


async def test_a_question_is_answered_with_citations_from_the_page(
    orch: httpx.AsyncClient, pages: PageServer
) -> None:
    user = new_user()
    url = pages.url("/text")
    tid = await submit(orch, user, f"What does {url} say about dead-letter streams?")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    answer = steps_by_id(task)["answer"]["output"]
    assert answer["citations"] and all(c["url"] == url for c in answer["citations"])
    assert "dead-letter stream" in answer["citations"][0]["quote"]
    assert "Sources:" in task["result"] and url in task["result"]


async def test_several_pages_are_summarized_side_by_side(orch: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    a, b = pages.url("/pages/mozilla-1.html"), pages.url("/pages/v8-blog.html")
    tid = await submit(orch, user, f"Summarize {a} and {b}")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    steps = steps_by_id(task)
    assert steps["combine"]["depends_on"] == ["summarize_1", "summarize_2"]
    sections = steps["combine"]["output"]["sections"]
    assert [s["url"] for s in sections] == [a, b]
    assert task["result"].startswith("1. ") and f"({a})" in task["result"] and f"({b})" in task["result"]
    assert task["result"].index(f"({a})") < task["result"].index("2. ") < task["result"].index(f"({b})")


async def test_cancel_stops_every_branch(orch: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    urls = [pages.url(f"/slow/{name}.html?delay=6&cancel=1") for name in PAGES]
    before = sum(pages.hits[f"/slow/{name}.html"] for name in PAGES)
    tid = await submit(orch, user, f"Compare {urls[0]}, {urls[1]} and {urls[2]}")
    await until(orch, user, tid, lambda t: sum(s["status"] == "processing" for s in t["steps"]) == 3)
    for _ in range(200):  # the three requests reach the page server (bounded: 10 s)
        if sum(pages.hits[f"/slow/{name}.html"] for name in PAGES) - before == 3:
            break
        await asyncio.sleep(0.05)
    assert sum(pages.hits[f"/slow/{name}.html"] for name in PAGES) - before == 3
    r = await orch.post(f"/task/{tid}/cancel", headers={"X-User-Id": user})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # the fetches in hand stop (well before their pages would arrive), nothing after them runs
    task = await until(
        orch, user, tid, lambda t: all(s["status"] == "cancelled" for s in t["steps"]), timeout=5
    )
    fetches = [s for s in task["steps"] if s["type"] == "fetch_url"]
    assert all(s["error"] == "stopped: the task was cancelled" for s in fetches)
    assert all(s["started_at"] is None for s in task["steps"] if s["type"] != "fetch_url")
    assert task["status"] == "cancelled" and task["result"] is None


async def test_a_killed_worker_leaves_the_join_run_once(
    stack: Stack, orch: httpx.AsyncClient, rds: aioredis.Redis, pages: PageServer
) -> None:
    """A worker holding every branch is killed mid-fetch: the branches run again on the
    other workers, and the join still runs exactly once."""
    user = new_user()
    with workers_stopped(stack):
        doomed = stack.start_worker()
        doomed.wait_ready()
        urls = [pages.url(f"/slow/{name}.html?delay=1.5&kill=1") for name in PAGES]
        before = sum(pages.hits[f"/slow/{name}.html"] for name in PAGES)
        tid = await submit(orch, user, f"Summarize and compare {urls[0]}, {urls[1]} and {urls[2]}")
        for _ in range(600):  # until it is fetching all three (bounded: 30 s)
            if sum(pages.hits[f"/slow/{name}.html"] for name in PAGES) - before >= 3:
                break
            await asyncio.sleep(0.05)
        consumer = f"{socket.gethostname()}-{doomed.pid}"
        pending = await rds.xpending_range(
            "task_queue", "workers", min="-", max="+", count=10, consumername=consumer
        )
        assert len(pending) == 3, "the doomed worker never held the three branches"
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.proc.wait()
    task = (await wait_done(orch, user, [tid], timeout=60))[tid]
    assert task["status"] == "completed", task
    steps = steps_by_id(task)
    assert [steps[f"fetch_{n}"]["attempts"] for n in (1, 2, 3)] == [2, 2, 2]  # ran again elsewhere
    assert steps["compare"]["attempts"] == 1 and steps["compare"]["status"] == "completed"
    assert [steps[f"extract_{n}"]["attempts"] for n in (1, 2, 3)] == [1, 1, 1]
