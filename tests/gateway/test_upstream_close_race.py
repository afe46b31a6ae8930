"""The race an upstream's shutdown makes: it closes an idle keep-alive connection just as the
gateway sends a request on it. The request never ran (it reached a closed socket, which
resets), so the gateway sends it again on a new connection, even a POST; a close after the
upstream read a request (no reset follows) is still a 502 for a POST."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent_gateway.upstream import UpstreamBroken, UpstreamPool
from tests.gateway.conftest import PoolOn

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Upstream:
    """Closes its first connection at once without reading; reads and answers on the others,
    or (`hang_up`) reads the request and closes without answering."""

    def __init__(self, hang_up: bool = False) -> None:
        self.hang_up = hang_up
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections == 1:
            # as a server shutting down: its FIN goes out first, and its socket is gone (a
            # reset for whatever arrives) only a moment later, so the gateway sees the close
            # before the reset its request causes
            writer.transport.pause_reading()  # what arrives stays unread in the kernel
            writer.write_eof()
            await asyncio.sleep(0.005)
            writer.close()
            return
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        if not self.hang_up:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()


async def _stale_connection(pool: UpstreamPool) -> None:
    """A pooled connection whose close has arrived but not been seen yet by the loop."""
    conn = await pool.acquire()
    pool.release(conn, True)
    time.sleep(0.05)  # noqa: ASYNC251 - blocking on purpose: the loop must not see the FIN yet


async def test_a_post_on_a_connection_closed_unread_is_sent_again(pool_on: PoolOn) -> None:
    upstream = Upstream()
    pool = await pool_on(upstream.handle)
    await _stale_connection(pool)
    response = await pool.request(b"POST", b"/task", [], body=b"{}", timeout=5)
    assert response.status == 200
    assert upstream.requests == 1  # ran once, on the second connection
    response.release()


async def test_a_post_the_upstream_read_is_not_sent_again(pool_on: PoolOn) -> None:
    upstream = Upstream(hang_up=True)
    pool = await pool_on(upstream.handle)
    conn = await pool.acquire()  # the first connection, closed unread: spend it
    pool.release(conn, False)
    with pytest.raises(UpstreamBroken):
        await pool.request(b"POST", b"/task", [], body=b"{}", timeout=5)
    assert upstream.requests == 1
