"""PostgreSQL stopped while tasks are submitted, read and run, and chats go on: while it is
down every API answers 503 with Retry-After, quickly (never a hang, never a 500); when it
returns every service recovers by itself and no accepted task is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
import pytest

from agent_common.devstack import Stack
from tests.reliability.support import (
    TEXT,
    Answer,
    Api,
    no_server_errors,
    ready_urls,
    report,
    steady_load,
    wait_ready,
    wait_tasks,
)
from tests.support.pageserver import PageServer


async def direct_probes(stack: Stack, until: asyncio.Event) -> list[Answer]:
    """The orchestrator and the chat service asked directly (as the gateway would), in turn."""
    out: list[Answer] = []
    probes = [
        ("orchestrator", "POST", "/task", {"json": {"title": "t", "description": TEXT}}),
        ("orchestrator", "GET", "/tasks", {}),
        ("chat", "POST", "/chat", {"json": {"message": "hello"}}),
        ("chat", "GET", "/chat/history/probe", {}),
    ]
    for i in range(2000):  # bounded; ends when `until` is set
        if until.is_set():
            break
        service, method, path, kwargs = probes[i % len(probes)]
        async with Api(stack.url(service)) as client:
            answer = await client.call(service, method, path, headers={"X-User-Id": "probe"}, **kwargs)
        out.append(answer)
        await asyncio.sleep(0.05)
    return out


async def run_scenario(
    stack: Stack, api: Api, db: asyncpg.Pool, pages: PageServer, *, down_s: float, seconds: float, name: str
) -> None:
    sessions = await api.sessions(6)

    def description(i: int) -> str:
        return (
            f"Summarize {pages.url(f'/slow/wikipedia.html?delay=0.3&n={i}')}"
            if i % 3 == 0
            else f"{i}. {TEXT}"
        )

    load = asyncio.create_task(steady_load(api, sessions, per_s=8, seconds=seconds, description=description))
    stop_probes = asyncio.Event()
    probes = asyncio.create_task(direct_probes(stack, stop_probes))
    await asyncio.sleep(1.0)
    stack.pg.stop()
    down_at = time.monotonic()
    # chats and new sessions too while it is down
    chats = [await api.chat(sessions[0], "are you there?") for _ in range(3)]
    await asyncio.sleep(max(0.0, down_s - (time.monotonic() - down_at)))
    stack.pg.start()
    up_at = time.monotonic()
    ready_after = await wait_ready(ready_urls(stack), timeout=60)
    first_ok = await _first_accepted(api, sessions[1], timeout=30)
    await load
    stop_probes.set()
    direct = await probes
    counts = await wait_tasks(db, api.accepted, timeout=90)

    during = [a for a in api.answers + direct if down_at + 0.5 <= a.at <= up_at - 0.5]
    report(
        name,
        down_s=down_s,
        accepted=len(api.accepted),
        completed=counts["completed"],
        lost=len(api.accepted) - counts["completed"],
        during=dict(sorted(Counter(a.status for a in during).items())),
        slowest_during_s=round(max((a.seconds for a in during), default=0), 2),
        all_ready_after_s=round(ready_after, 1),
        first_accepted_after_s=round(first_ok, 1),
    )
    no_server_errors(api.answers + direct)
    assert all(a.status in (503,) for a in chats), chats
    assert during and all(a.status in (200, 201, 202, 503) for a in during)
    assert any(a.status == 503 for a in during)
    assert max(a.seconds for a in during) < 10, "a request hung while PostgreSQL was down"
    assert counts["completed"] == len(api.accepted), counts


async def _first_accepted(api: Api, session: object, timeout: float) -> float:
    """Seconds after PostgreSQL is back until a new task is accepted (bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if (await api.submit(session, TEXT)).status == 202:  # type: ignore[arg-type]
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"no task accepted {timeout}s after PostgreSQL came back")


async def test_postgres_down_under_load(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(rstack, api, rdb, pages, down_s=4, seconds=9, name="postgres-down short")


@pytest.mark.reliability_long
async def test_postgres_down_10s_under_load(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    await run_scenario(rstack, api, rdb, pages, down_s=10, seconds=20, name="postgres-down 10s")
