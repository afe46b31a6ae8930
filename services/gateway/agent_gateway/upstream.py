"""The proxy's HTTP/1.1 client: one pool of keep-alive connections per upstream, each an
asyncio protocol whose responses httptools (uvicorn's own parser) parses.

Why not httpx, httpcore or aiohttp: as a pass-through (services/gateway/README.md "Performance")
they reached 790, 1,190 and 7,850 req/s where this reaches 18,000; their general machinery
(timeouts by cancel scopes, pool bookkeeping, header models, stream wrappers) is most of the
cost of a proxy that does nothing else. This one does exactly what the gateway needs:
HTTP/1.1 to a known service, bodies by content-length or chunked, responses streamed with
back-pressure, and errors sorted into down (503), timed out (504) and broken (502).

Request bodies are whole (the proxy reads them, capped, before it takes a connection), so
a connection is only ever held while the upstream works. Each connection carries one
response at a time and trusts the upstream no further than that response: bytes after it
(a stray or pipelined answer) close the connection instead of being parsed into it, the
head of a response is capped, a HEAD response ends with its headers, and a transfer coding
other than chunked is refused (502) rather than guessed at.

One module of ~500 lines on purpose: the pool, a connection's protocol and its response are
one client whose parts call into each other on every request (the parser's callbacks feed
the response, the response releases its connection to the pool, the pool retries on a new
connection), and the request path is easier to follow, and to keep fast, in one place.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections import deque
from urllib.parse import urlsplit

import httptools

# a response body buffered beyond this pauses reading from the upstream until the client
# has taken it (so a slow client cannot make the gateway hold a large body in memory)
_HIGH_WATER = 1 << 20
_LOW_WATER = 1 << 18
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})
# after a close before any answer, how long to wait for the reset that tells whether our
# request hit an already closed socket (on loopback it follows within microseconds)
_RESET_WAIT_S = 0.02


class UpstreamError(Exception):
    status = 502

    def __init__(self, upstream: str, reason: str) -> None:
        super().__init__(f"{upstream} {reason}")
        self.upstream = upstream
        self.reason = reason


class UpstreamDown(UpstreamError):
    """No connection could be made (refused, unreachable, connect timeout, no free slot): 503."""

    status = 503


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamBroken(UpstreamError):
    """Reset, closed early or answered something that is not HTTP: 502."""

    status = 502


class Response:
    """One upstream response: status and headers first, then the body as it arrives."""

    __slots__ = (
        "_conn",
        "_waiter",
        "buffered",
        "chunks",
        "complete",
        "error",
        "got_bytes",
        "head",
        "head_bytes",
        "head_raw",
        "headers",
        "headers_done",
        "status",
        "until_close",
    )

    def __init__(self, conn: Connection, head: bool = False) -> None:
        self._conn = conn
        self.head = head  # the answer to a HEAD request: no body follows its headers
        self.head_bytes = 0  # bytes of the headers parsed so far
        self.head_raw = 0  # bytes received while the head was incomplete
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.until_close = False  # neither content-length nor chunked: the body ends at close
        self.error: UpstreamError | None = None
        self.got_bytes = False

    # ---- fed by the connection ------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER:
            self._conn.pause_reading()
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if not self.complete and self.error is None:
            self.error = error
        self._wake()

    # ---- used by the proxy -------------------------------------------------------------------

    async def _wait(self, timeout: float | None, what: str) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, self._expire, waiter, what) if timeout else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _expire(self, waiter: asyncio.Future[None], what: str) -> None:
        if not waiter.done():
            self.error = UpstreamTimeout(self._conn.pool.name, f"did not answer within the timeout ({what})")
            self._conn.abort()
            waiter.set_result(None)

    async def next_chunk(self, timeout: float | None) -> bytes:
        """The next piece of the body; b"" at its end."""
        while not self.chunks:
            if self.error is not None:
                raise self.error
            if self.complete:
                return b""
            await self._wait(timeout, "body")
        data = self.chunks.popleft()
        self.buffered -= len(data)
        if self.buffered < _LOW_WATER:
            self._conn.resume_reading()
        return data

    def whole_body(self) -> bytes | None:
        """The body if it has fully arrived already (the common case for small JSON)."""
        if not self.complete or self.error is not None:
            return None
        body = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        return body

    def abandon(self, reason: str) -> None:
        """Stop this response (the client left): the connection is dropped, not reused."""
        self._fail(UpstreamBroken(self._conn.pool.name, reason))
        self._conn.abort()

    def release(self) -> None:
        """Give the connection back: to the pool if this response ended cleanly."""
        conn = self._conn
        if conn.response is not self:
            return
        conn.response = None
        reusable = self.complete and self.error is None and not self.until_close and conn.keep_alive
        conn.pool.release(conn, reusable and not self.chunks)


class Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time (no pipelining)."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        # a message began after the current response's own: the upstream is out of step
        self.stray = False
        self.closed = False
        self.forgotten = False  # its pool slot has been freed
        self.keep_alive = True
        self.reused = False
        # the upstream reset the connection (RST): it closed its socket with our bytes unread
        self.reset = False
        self._reset_after_eof = False
        self.idle_since = 0.0

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio gives a BaseTransport; TCP's is a Transport

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.complete:
            # bytes nobody asked for (after the response, or between requests): the stream
            # is out of step, and whatever they say must not reach anyone
            self.abort()
            return
        response.got_bytes = True
        head = not response.headers_done
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            response._fail(UpstreamBroken(self.pool.name, f"sent a malformed response ({exc})"))
            self.abort()
            return
        if self.stray:  # a message began after ours: ours is kept, the connection is not
            self.abort()
        elif head and not response.headers_done:
            response.head_raw += len(data)  # all of it is head: no body before the headers end
            if response.head_raw > self.pool.max_header_bytes:
                self._head_too_large(response)

    def eof_received(self) -> bool | None:
        """The upstream closed its side. Before any answer, that may be an idle keep-alive
        connection it closed just as our request went out (one shutting down does that):
        then our request reaches a closed socket, which answers with a reset at once. Stay
        open a moment to tell that (never ran: safe to resend) from a close after reading it."""
        response = self.response
        if response is None or response.got_bytes:
            return None
        asyncio.get_running_loop().call_later(_RESET_WAIT_S, self._after_eof)
        return True

    def _after_eof(self) -> None:
        if self.closed or self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        try:
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if sock is not None else 0
        except OSError:
            error = 0
        self._reset_after_eof = error in (errno.EPIPE, errno.ECONNRESET)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reset = isinstance(exc, ConnectionResetError | BrokenPipeError) or self._reset_after_eof
        response = self.response
        if response is None:  # idle: the upstream closed it; leave the pool now
            self.pool.lost_idle(self)
        elif not response.complete:
            if response.headers_done and response.until_close and exc is None:
                response._finish()
            else:
                reason = "reset the connection" if exc else "closed the connection mid-response"
                response._fail(UpstreamBroken(self.pool.name, reason))

    # ---- httptools callbacks: each writes to the current response only ---------------------

    def on_message_begin(self) -> None:
        response = self.response
        # a 1xx interim answer is a message of its own before the real one; any message
        # after the real one began is not ours
        if response is None or response.headers_done or response.error is not None:
            self.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.stray:
            return
        response = self.response
        response.headers.append((name.lower(), value))  # type: ignore[union-attr]  # httptools calls back only while a response is read
        response.head_bytes += len(name) + len(value) + 4  # type: ignore[union-attr]  # httptools calls back only while a response is read

    def on_headers_complete(self) -> None:
        response = self.response
        if self.stray or response is None:
            return
        if response.head_bytes > self.pool.max_header_bytes:
            self._head_too_large(response)
            return
        status = self.parser.get_status_code()
        if status < 200:  # 1xx interim answer: wait for the real one
            response.headers.clear()
            response.head_bytes = response.head_raw = 0
            return
        coding = _transfer_coding(response.headers)
        if coding is not None and coding != b"chunked":
            # the body would end only at the close, in a coding the client is never told
            # of (Transfer-Encoding is hop-by-hop): no answer is better than a wrong one
            response._fail(
                UpstreamBroken(
                    self.pool.name,
                    f"sent Transfer-Encoding {coding.decode('latin-1')!r} (only chunked is supported)",
                )
            )
            self.stray = True
            self.abort()
            return
        response.status = status
        response.headers_done = True
        if response.head:  # the headers describe a body that is not sent
            self.keep_alive = False  # the parser would wait for that body: never reuse
            self.stray = True  # and nothing after the headers belongs to this response
            response._finish()
            return
        if status not in (204, 304):
            names = {name for name, _ in response.headers}
            response.until_close = b"content-length" not in names and coding is None
        response._wake()

    def on_body(self, body: bytes) -> None:
        if not self.stray:
            self.response._push(body)  # type: ignore[union-attr]  # set for as long as httptools calls back

    def on_message_complete(self) -> None:
        response = self.response
        if self.stray or response is None or not response.headers_done or response.complete:
            return
        self.keep_alive = self.parser.should_keep_alive()
        response._finish()

    def _head_too_large(self, response: Response) -> None:
        response._fail(
            UpstreamBroken(self.pool.name, f"sent response headers over {self.pool.max_header_bytes} bytes")
        )
        self.stray = True  # nothing more is parsed into it
        self.abort()

    # ---- used by the pool -------------------------------------------------------------------

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed and not self.transport.is_reading():
            self.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection now (it is never reused after an error or an early stop)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _transfer_coding(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The last transfer coding named (the one that frames the body), or None."""
    coding = None
    for name, value in headers:
        if name == b"transfer-encoding":
            last = value.rsplit(b",", 1)[-1].strip().lower()
            coding = last or coding
    return coding


class UpstreamPool:
    """Keep-alive connections to one upstream URL, at most `max_connections` at once."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        max_connections: int,
        keepalive_s: float,
        connect_timeout_s: float,
        pool_timeout_s: float,
        max_header_bytes: int = 65_536,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}: upstream URL must be http(s)://host[:port], not {url!r}")
        self.name = name
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/").encode()
        self.host_line = b"host: " + parts.netloc.encode() + b"\r\n"
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self.max_header_bytes = max_header_bytes  # status line and headers of one response
        self.idle: deque[Connection] = deque()  # oldest first
        self.slots = 0  # connections open or opening
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()

    # ---- connections ------------------------------------------------------------------------

    async def acquire(self) -> Connection:
        idle = self.idle
        now = time.monotonic()
        # the newest idle connection is reused, so the oldest would never be looked at:
        # expire it here (its slot is wanted back)
        while idle and now - idle[0].idle_since >= self.keepalive_s:
            self._discard(idle.popleft())
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
            self._discard(conn)
        if self.slots >= self.max_connections:
            handed = await self._wait_for_slot()
            if handed is not None:
                return handed
        else:
            self.slots += 1
        try:
            return await self._connect()
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_slot(self) -> Connection | None:
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(self.pool_timeout_s):
                return await waiter
        except TimeoutError:
            busy = f"has no free connection (all {self.max_connections} busy)"
            raise UpstreamDown(self.name, busy) from None
        except BaseException:
            # cancelled after being handed a slot or connection: pass it on
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed, True)
            raise

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: Connection(self), self.host, self.port, ssl=self.ssl
                )
        except TimeoutError:  # unreachable, as far as a client can tell: down, not slow
            raise UpstreamDown(self.name, "did not accept a connection in time") from None
        except OSError as exc:
            reason = (
                "refused the connection"
                if isinstance(exc, ConnectionRefusedError)
                else f"is unreachable ({exc.__class__.__name__})"
            )
            raise UpstreamDown(self.name, reason) from None
        return conn

    def release(self, conn: Connection, reusable: bool) -> None:
        if not reusable or conn.closed:
            conn.abort()
            self._forget(conn)
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def _discard(self, conn: Connection) -> None:
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.close()
        conn.closed = True
        self._forget(conn)

    def lost_idle(self, conn: Connection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:  # not idle: being used, or already gone
            return
        self._forget(conn)

    def _forget(self, conn: Connection) -> None:
        """Free a connection's slot, once."""
        if not conn.forgotten:
            conn.forgotten = True
            self._free_slot()

    def _free_slot(self) -> None:
        """A connection went away: let a waiter open a new one, else forget the slot."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.slots -= 1

    async def close(self) -> None:
        while self.idle:
            self._discard(self.idle.popleft())

    # ---- requests ---------------------------------------------------------------------------

    async def request(
        self, method: bytes, target: bytes, headers: list[bytes], *, body: bytes = b"", timeout: float | None
    ) -> Response:
        """Send one request and return once the response headers are in. `headers` are
        complete "name: value\\r\\n" lines; `body` is whole, so a connection is held only
        while the upstream works, and the request can be sent again after a stale
        keep-alive connection."""
        head = [method, b" ", self.prefix, target, b" HTTP/1.1\r\n", self.host_line, *headers]
        if body or method not in _IDEMPOTENT:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        data = b"".join(head) + body
        is_head = method == b"HEAD"
        for attempt in (1, 2):
            conn = await self.acquire()
            response = Response(conn, is_head)
            conn.response = response
            conn.transport.write(data)  # type: ignore[union-attr]  # acquire() returns connected ones
            try:
                while not response.headers_done and response.error is None:
                    await response._wait(timeout, "headers")
                if response.error is not None:
                    raise response.error
                return response
            except UpstreamBroken:
                # An upstream shutting down closes its idle keep-alive connections and resets
                # the ones still waiting in its accept queue. A reset before any answer means
                # it closed the socket with our request unread, so even a POST is safe to
                # send again; a keep-alive connection closed just as we reused it is retried
                # for idempotent requests only (a plain close may follow a request it ran).
                retry = (
                    attempt == 1
                    and not response.got_bytes
                    and (conn.reset or (conn.reused and method in _IDEMPOTENT))
                )
                response.release()
                if not retry:
                    raise
                # its idle siblings went to the same process and are likely closing too:
                # the second try goes on a new connection
                await self.close()
            except BaseException:
                conn.abort()
                response.release()
                raise
        raise AssertionError("unreachable")
