"""An upstream killed and started again behind the gateway: 502/503 (with Retry-After) while
it is down, and afterwards no stuck connection: the pooled keep-alive connections to the
dead process are gone (no CLOSE_WAIT left), and requests succeed at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent_common.devstack import Stack
from tests.reliability.support import Api, Session, kill9, report, sockets_to, wait_ready

ROUTES = {
    "orchestrator": ("GET", "/api/tasks?limit=1", None),
    "chat": ("POST", "/api/chat", {"message": "hi"}),
}


async def burst(api: Api, session: Session, upstream: str, n: int) -> list[int]:
    method, path, body = ROUTES[upstream]
    answers = await asyncio.gather(
        *(api.call(upstream, method, path, headers=session.headers, json=body) for _ in range(n))
    )
    return [a.status for a in answers]


async def run_scenario(stack: Stack, api: Api, upstream: str, *, width: int, cycles: int, name: str) -> None:
    session = await api.session()
    gateway = stack.services["gateway"]
    service = stack.services[upstream]
    port = getattr(stack.ports, upstream)
    worst_after = 0.0
    down_statuses: list[int] = []
    for _ in range(cycles):
        assert set(await burst(api, session, upstream, width)) == {200}  # the pool fills
        assert sockets_to(gateway.pid, port)["ESTABLISHED"] >= 1
        kill9(service)
        down_at = time.monotonic()
        down = [
            a
            for a in await asyncio.gather(
                *(
                    api.call(
                        upstream, *ROUTES[upstream][:2], headers=session.headers, json=ROUTES[upstream][2]
                    )
                    for _ in range(width)
                )
            )
        ]
        down_statuses += [a.status for a in down]
        assert all(a.status in (502, 503) for a in down), down[:3]
        assert all(a.retry_after for a in down if a.status == 503)
        service.start()
        await wait_ready([service.ready_url or ""], timeout=30)
        started = time.monotonic()
        after = await burst(api, session, upstream, width)
        worst_after = max(worst_after, time.monotonic() - started)
        assert set(after) == {200}, after
        stuck = sockets_to(gateway.pid, port)
        assert stuck["CLOSE_WAIT"] == 0, stuck
        assert sum(stuck.values()) <= width, stuck
    report(
        name,
        upstream=upstream,
        cycles=cycles,
        width=width,
        while_down=dict(sorted({s: down_statuses.count(s) for s in set(down_statuses)}.items())),
        burst_after_restart_s=round(worst_after, 2),
        down_to_up_s=round(time.monotonic() - down_at, 1),
    )


@pytest.mark.parametrize("upstream", ["orchestrator", "chat"])
async def test_upstream_restart(rstack: Stack, api: Api, upstream: str) -> None:
    await run_scenario(rstack, api, upstream, width=30, cycles=1, name="upstream-restart short")


@pytest.mark.reliability_long
@pytest.mark.parametrize("upstream", ["orchestrator", "chat"])
async def test_upstream_restarts_repeatedly(rstack: Stack, api: Api, upstream: str) -> None:
    await run_scenario(rstack, api, upstream, width=150, cycles=5, name="upstream-restart long")
