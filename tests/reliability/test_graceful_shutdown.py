"""SIGTERM (a rollout) to each service while it has work in hand: the work in flight
finishes, the process exits 0, and what a terminated worker could not finish within its
grace runs elsewhere. No accepted task is lost."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import pytest

from agent_common.devstack import Stack
from agent_common.devstack.processes import ServiceProcess
from tests.reliability.support import (
    TEXT,
    Api,
    no_server_errors,
    report,
    sigterm,
    steady_load,
    step_rows,
    wait_ready,
    wait_tasks,
)
from tests.support.pageserver import PageServer


async def exit_code(proc: ServiceProcess, timeout: float) -> int | None:
    assert proc.proc is not None
    for _ in range(int(timeout * 10)):
        if proc.proc.poll() is not None:
            return proc.proc.returncode
        await asyncio.sleep(0.1)
    return None


def graceful(proc: ServiceProcess, code: int | None, log_from: int) -> bool:
    """uvicorn drains, then re-raises the SIGTERM it caught (exit -15, 143 in a container)."""
    with proc.log_path.open("rb") as log:
        log.seek(log_from)
        finished = b"Finished server process" in log.read()
    return code == 0 or (code == -signal.SIGTERM and finished)


async def fetching(pages: PageServer, urls: list[str], timeout: float = 20) -> None:
    """Until every URL has been requested at least once (bounded)."""
    for _ in range(int(timeout * 20)):
        if all(pages.targets[u.removeprefix(pages.base)] for u in urls):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workers never started fetching")


async def slow_tasks(api: Api, pages: PageServer, n: int, delay: float) -> tuple[list[str], list[str]]:
    session = await api.session()
    run = time.time_ns()
    urls = [pages.url(f"/slow/cnn.html?delay={delay}&run={run}&n={i}") for i in range(n)]
    answers = await asyncio.gather(*(api.submit(session, f"Summarize {u}") for u in urls))
    assert {a.status for a in answers} == {202}
    return [a.body["task_id"] for a in answers], urls


async def test_terminated_worker_finishes_its_steps(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    """Steps shorter than the grace period finish on the terminated worker: run once."""
    ids, urls = await slow_tasks(api, pages, 12, delay=1.5)
    await fetching(pages, urls)
    worker = rstack.workers[0]
    sigterm(worker)
    code = await exit_code(worker, timeout=15)
    counts = await wait_tasks(rdb, ids, timeout=60)
    rows = await step_rows(rdb, ids)
    report(
        "sigterm worker (within grace)",
        tasks=len(ids),
        completed=counts["completed"],
        exit_code=code,
        extra_attempts=sum(r["attempts"] - 1 for r in rows),
    )
    assert code == 0
    assert counts["completed"] == len(ids)
    assert all(r["attempts"] == 1 for r in rows), "a step was run twice though its worker drained"


async def test_steps_past_the_grace_complete_elsewhere(
    rstack: Stack, api: Api, rdb: asyncpg.Pool, pages: PageServer
) -> None:
    """A worker whose grace (1 s) ends before its steps (4 s): it exits, and another worker
    takes the steps over after the visibility timeout."""
    for w in rstack.workers:
        w.stop()
    short = rstack.start_worker(SHUTDOWN_GRACE_S="1")
    short.wait_ready()
    ids, urls = await slow_tasks(api, pages, 6, delay=4)
    await fetching(pages, urls)
    sigterm(short)
    code = await exit_code(short, timeout=10)
    for w in rstack.workers[:2]:
        w.start()
    started = time.monotonic()
    counts = await wait_tasks(rdb, ids, timeout=60)
    rows = await step_rows(rdb, ids)
    report(
        "sigterm worker (past grace)",
        tasks=len(ids),
        completed=counts["completed"],
        exit_code=code,
        taken_over_after_s=round(time.monotonic() - started, 1),
    )
    assert code == 0
    assert counts["completed"] == len(ids)
    assert [r["attempts"] for r in rows if r["seq"] == 0] == [2] * len(ids)


@pytest.mark.parametrize("service", ["orchestrator", "chat", "gateway"])
async def test_service_terminated_under_load(rstack: Stack, rdb: asyncpg.Pool, service: str) -> None:
    """Requests already being answered complete; the process exits 0; while it is away the
    gateway says 503 (or, for the gateway itself, the connection is refused); nothing that
    was accepted is lost."""
    async with Api(rstack.url("gateway"), max_connections=300, timeout=30) as api:
        sessions = await api.sessions(10)
        burst = [
            api.submit(sessions[i % 10], f"{i}. {TEXT}") if i % 3 else api.chat(sessions[i % 10], "hi")
            for i in range(300)
        ]
        running = asyncio.gather(*burst)
        await asyncio.sleep(0.3)  # the burst is in flight
        proc = rstack.services[service]
        log_from = proc.log_path.stat().st_size
        sigterm(proc)
        code = await exit_code(proc, timeout=25)
        answers = await running
        # asked while it is away (the gateway itself: the connection is refused)
        after = [
            await (api.chat(sessions[0], "hi") if service == "chat" else api.submit(sessions[0], TEXT))
            for _ in range(3)
        ]
        proc.start()
        proc.wait_ready()
        counts = await wait_tasks(rdb, api.accepted, timeout=60)
    statuses = api.statuses()
    report(
        f"sigterm {service}",
        burst=len(answers),
        answers=dict(sorted(statuses.items())),
        exit_code=code,
        accepted=len(api.accepted),
        completed=counts["completed"],
        lost=len(api.accepted) - counts["completed"],
        errors={a.error[:60] for a in answers if a.error},
        details={str(a.body)[:80] for a in answers if a.status >= 500},
    )
    assert graceful(proc, code, log_from)
    assert counts["completed"] == len(api.accepted)
    if service == "gateway":
        # requests it had taken were answered; the rest found it closed (never a 5xx or a hang)
        assert all(a.status == 0 and "Connect" in a.error for a in after)
        answered = [a for a in answers if a.status]
        assert answered and all(a.status in (200, 201, 202) for a in answered)
        assert all(("ConnectError" in a.error or "ReadError" in a.error) for a in answers if not a.status)
    else:
        assert all(a.status == 503 and a.retry_after for a in after)
        # A request sent on a keep-alive connection just as the upstream closed it never ran
        # there; the gateway resends it when a reset says so, but if the close is all it sees
        # it cannot tell that from a crash after the upstream ran it: rarely (about 1 in 1,500
        # requests of such a burst) a POST is then a 502. Nothing else is.
        raced = [a for a in answers if a.status == 502 and "closed the connection" in str(a.body)]
        assert len(raced) <= len(answers) // 25, raced  # 4% at most (5 of 300 seen under full load)
        no_server_errors([a for a in answers if a not in raced])


@pytest.mark.reliability_long
async def test_rolling_restart_under_load(rstack: Stack, rdb: asyncpg.Pool, pages: PageServer) -> None:
    """Every service behind the gateway and every worker, SIGTERM and start again one after
    the other (as a rollout does) while tasks and reads keep coming: no 5xx but 503 with
    Retry-After, nothing accepted is lost."""

    def description(i: int) -> str:
        return f"Summarize {pages.url(f'/slow/cnn.html?delay=1&n={i}')}" if i % 2 else f"{i}. {TEXT}"

    async with Api(rstack.url("gateway"), timeout=30) as api:
        sessions = await api.sessions(8)
        load = asyncio.create_task(steady_load(api, sessions, per_s=10, seconds=45, description=description))
        restarted = []
        for proc in [rstack.services["orchestrator"], rstack.services["chat"], *rstack.workers]:
            await asyncio.sleep(4)
            log_from = proc.log_path.stat().st_size
            sigterm(proc)
            code = await exit_code(proc, timeout=30)
            restarted.append((proc.name, code))
            proc.start()
            await wait_ready([proc.ready_url or ""], timeout=30)
            if proc.module != "agent_worker":
                assert graceful(proc, code, log_from), (proc.name, code)
            else:
                assert code == 0, (proc.name, code)
        await load
        counts = await wait_tasks(rdb, api.accepted, timeout=120)
    report(
        "rolling restart",
        restarted=len(restarted),
        answers=dict(sorted(api.statuses().items())),
        accepted=len(api.accepted),
        completed=counts["completed"],
        lost=len(api.accepted) - counts["completed"],
    )
    no_server_errors(api.answers)
    assert counts["completed"] == len(api.accepted)
