"""A client that sends a task's headers and the first bytes of its body, then nothing: the
slow-body attack the gateway answers with 408 (tests/gateway, tests/reliability)."""

from __future__ import annotations

import asyncio


async def slow_body_client(base: str, token: str, *, wait_s: float) -> bytes:
    """What the gateway answers (read for up to wait_s) to a body that never arrives."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/task HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
        + token.encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"title": "'
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait_s)
    finally:
        writer.close()
