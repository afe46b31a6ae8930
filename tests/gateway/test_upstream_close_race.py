"""The race an upstream's shutdown makes: it closes an idle keep-alive connection just as the
gateway sends a request on it. The request never ran (it reached a closed socket, which
resets), so the gateway sends it again on a new connection, even a POST; a close after the
upstream read a request (no reset follows) is still a 502 for a POST."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agent_gateway.upstream import UpstreamBroken, UpstreamPool

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


@pytest.fixture
async def serve() -> AsyncIterator[object]:
    servers = []

    async def start(upstream: Upstream) -> UpstreamPool:
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return UpstreamPool(
            "up",
            f"http://127.0.0.1:{port}",
            max_connections=4,
            keepalive_s=30,
            connect_timeout_s=2,
            pool_timeout_s=2,
        )

    yield start
    for server in servers:
        server.close()


async def _stale_connection(pool: UpstreamPool) -> None:
    """A pooled connection whose close has arrived but not been seen yet by the loop."""
    conn = await pool.acquire()
    pool.release(conn, True)
    time.sleep(0.05)  # noqa: ASYNC251 - blocking on purpose: the loop must not see the FIN yet


async def test_a_post_on_a_connection_closed_unread_is_sent_again(serve: object) -> None:
    upstream = Upstream()
    pool = await serve(upstream)  # type: ignore[operator]
    await _stale_connection(pool)
    response = await pool.request(b"POST", b"/task", [], body=b"{}", timeout=5)
    assert response.status == 200
    assert upstream.requests == 1  # ran once, on the second connection
    response.release()


async def test_a_post_the_upstream_read_is_not_sent_again(serve: object) -> None:
    upstream = Upstream(hang_up=True)
    pool = await serve(upstream)  # type: ignore[operator]
    conn = await pool.acquire()  # the first connection, closed unread: spend it
    pool.release(conn, False)
    with pytest.raises(UpstreamBroken):
        await pool.request(b"POST", b"/task", [], body=b"{}", timeout=5)
    assert upstream.requests == 1
