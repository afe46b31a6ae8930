"""Slow request bodies against the real stack's gateway with its default settings (256
upstream connections, bodies due within 10 s): 500 clients send the headers of a task and a
few bytes of its body, then nothing. A normal client goes on being served meanwhile, and
each slow one ends with a 408."""

from __future__ import annotations

import asyncio
import time

from agent_common.devstack import Stack
from tests.reliability.rawhttp import request
from tests.reliability.support import Api, report
from tests.support.slowbody import slow_body_client

SLOW_CLIENTS = 500
NORMAL_FOR_S = 5.0


async def test_500_slow_bodies_do_not_stop_a_normal_client(rstack: Stack, api: Api) -> None:
    base = rstack.url("gateway")
    attacker, user = await api.session(), await api.session()
    slow = [
        asyncio.ensure_future(slow_body_client(base, attacker.token, wait_s=60)) for _ in range(SLOW_CLIENTS)
    ]
    await asyncio.sleep(1.0)  # every slow client has sent its first bytes
    bearer = {"Authorization": f"Bearer {user.token}"}
    statuses: list[int] = []
    end = time.monotonic() + NORMAL_FOR_S
    while time.monotonic() < end:
        status, _, _ = await request(
            base,
            "POST",
            "/api/task",
            headers=bearer,
            timeout=10,
            json_body={"title": "t", "description": "Plain text to summarize."},
        )
        statuses.append(status)
        status, _, _ = await request(base, "GET", "/api/tasks?limit=1", headers=bearer, timeout=10)
        statuses.append(status)
    answers = await asyncio.gather(*slow)
    timed_out = sum(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    report(
        "slow_bodies",
        slow_clients=SLOW_CLIENTS,
        normal_requests=len(statuses),
        normal_served=statuses.count(200) + statuses.count(202),
        slow_answered_408=timed_out,
    )
    assert statuses and set(statuses) <= {200, 202}, statuses
    assert timed_out == SLOW_CLIENTS
