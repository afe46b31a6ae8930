"""Slow request bodies: clients that send headers and a little of the body, then nothing.
The gateway reads a body whole before it takes an upstream connection, so they hold none
and a normal client is served; each slow one gets a 408 at the body deadline. This gateway
has 8 upstream connections, waits 1 s for a free one and gives bodies 3 s."""

from __future__ import annotations

import asyncio

import httpx

from tests.gateway.conftest import Gateway, new_session
from tests.support.slowbody import slow_body_client

SLOW_CLIENTS = 40  # five times the gateway's upstream connections


async def test_slow_bodies_cannot_starve_a_normal_client(
    client: httpx.AsyncClient, gateways: dict[str, Gateway]
) -> None:
    base = gateways["slowbody"].url
    attacker = await new_session(client, base)
    slow = [
        asyncio.ensure_future(slow_body_client(base, attacker.token, wait_s=20)) for _ in range(SLOW_CLIENTS)
    ]
    await asyncio.sleep(0.5)  # every slow client has sent its first bytes
    user = await new_session(client, base)
    headers = {**user.bearer, "Content-Type": "application/json"}
    served = []
    for i in range(10):
        answer = await client.post(f"{base}/api/task", headers=headers, json={"title": f"t{i}"})
        served.append(answer.status_code)
        listed = await client.get(f"{base}/api/tasks", headers=user.bearer)
        served.append(listed.status_code)
    assert served == [200] * 20
    answers = await asyncio.gather(*slow)
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0][:200]
    assert b'"detail":"the request body did not arrive within 3s"' in answers[0]
