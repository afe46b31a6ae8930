"""Slow request bodies: clients that send headers and a little of the body, then nothing.
The gateway reads a body whole before it takes an upstream connection, so they hold none
and a normal client is served; each slow one gets a 408 at the body deadline. This gateway
has 8 upstream connections, waits 1 s for a free one and gives bodies 3 s."""

from __future__ import annotations

import asyncio

import httpx

from tests.gateway.conftest import Gateway, new_session

SLOW_CLIENTS = 40  # five times the gateway's upstream connections


async def _slow_client(base: str, token: str) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/task HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
        + token.encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"title": "'
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 20)  # whatever the gateway answers
    finally:
        writer.close()


async def test_slow_bodies_cannot_starve_a_normal_client(
    client: httpx.AsyncClient, gateways: dict[str, Gateway]
) -> None:
    base = gateways["slowbody"].url
    attacker = await new_session(client, base)
    slow = [asyncio.ensure_future(_slow_client(base, attacker.token)) for _ in range(SLOW_CLIENTS)]
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
