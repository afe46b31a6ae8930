"""The rate limiter's Redis client: one pipelined connection for the EVALSHA every proxied
request makes, replies parsed by hiredis.

Why not redis-py here: under load its per-command machinery (connection pool checkout,
command packing, response callbacks, one socket write per command) was the largest cost the
profile showed after the sockets themselves (services/gateway/README.md "Performance").
Here the commands of all requests that arrive in one event-loop turn go out in one write,
and replies are matched to callers in order. redis-py still serves everything else (/ready,
/api/upstreams), and reads the URL for both.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any

import hiredis
from redis.connection import parse_url


def _command(*parts: bytes | str | float) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, float | int):
            part = repr(part)
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class _Pipe(asyncio.Protocol):
    """One connection: requests written in batches, replies answered in order."""

    def __init__(self, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.pending: deque[tuple[asyncio.Future[object], float]] = deque()
        self.outbox: list[bytes] = []
        self.closed = False
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio gives a BaseTransport; TCP's is a Transport

    def send(self, command: bytes) -> asyncio.Future[object]:
        if self.closed:
            raise ConnectionError("redis connection closed")
        future = self.loop.create_future()
        self.pending.append((future, self.loop.time()))
        if not self.outbox:
            self.loop.call_soon(self._flush)
        self.outbox.append(command)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout_s, self._check)
        return future

    def _flush(self) -> None:
        if self.outbox and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def _check(self) -> None:
        """One timer for all calls: fail everything once the oldest reply is overdue."""
        self._watchdog = None
        if not self.pending:
            return
        overdue_at = self.pending[0][1] + self.timeout_s
        if self.loop.time() >= overdue_at:
            self._fail(TimeoutError("redis did not answer in time"))
            if self.transport is not None:
                self.transport.abort()
        else:
            self._watchdog = self.loop.call_at(overdue_at, self._check)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while (reply := self._next_reply()) is not False:
            if not pending:  # a reply nobody waits for: out of step, start over
                self._fail(ConnectionError("redis sent an unexpected reply"))
                self.transport.abort()  # type: ignore[union-attr]  # connected: the watchdog runs only then
                return
            future = pending.popleft()[0]
            if not future.done():
                future.set_result(reply)

    def _next_reply(self) -> object:
        """The next whole reply, or False. Bytes that are not RESP (not a Redis, or a stream
        out of step) end the connection and fail its callers, instead of escaping into
        asyncio as a fatal protocol error."""
        try:
            return self.reader.gets()
        except hiredis.ProtocolError as exc:
            self._fail(ConnectionError(f"redis sent bytes that are not RESP ({exc})"))
            self.transport.abort()  # type: ignore[union-attr]  # data arrives only when connected
            return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"redis connection lost ({exc or 'closed'})"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        while self.pending:
            future = self.pending.popleft()[0]
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: the caller re-raises it
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None


def _tls(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context of a rediss:// URL, from the query options redis-py reads: ssl_cert_reqs
    (none, optional, required), ssl_ca_certs, ssl_check_hostname, ssl_certfile, ssl_keyfile."""
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    requirement = str(options.get("ssl_cert_reqs", "required")).lower()
    if requirement in ("none", "optional") or options.get("ssl_check_hostname") is False:
        context.check_hostname = False
    if requirement == "none":
        context.verify_mode = ssl.CERT_NONE
    elif requirement == "optional":
        context.verify_mode = ssl.CERT_OPTIONAL
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    return context


class FastRedis:
    """EVALSHA of one script over one pipelined connection, reconnecting when it is lost."""

    def __init__(self, url: str, script: str, *, timeout_s: float) -> None:
        # redis-py's own reading of the URL, so that both clients of the gateway connect alike:
        # credentials, the database (path or ?db=) and the TLS options of a rediss:// URL
        options = parse_url(url)
        if "path" in options or not url.lower().startswith(("redis://", "rediss://")):
            raise ValueError("FastRedis needs a redis:// or rediss:// URL (redis-py serves unix sockets)")
        self.host = options.get("host", "localhost")
        self.port = options.get("port", 6379)
        self.ssl = _tls(options) if url.lower().startswith("rediss://") else None
        self.hello: list[bytes] = []  # sent first on every new connection
        if options.get("password"):
            user = options.get("username")
            self.hello.append(_command("AUTH", *((user,) if user else ()), options["password"]))
        if options.get("db"):
            self.hello.append(_command("SELECT", str(options["db"])))
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script, usedforsecurity=False).hexdigest().encode()
        self.timeout_s = timeout_s
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Future[_Pipe] | None = None
        # encoded EVALSHA per (key, args): the same few buckets are hit again and again
        self._commands: dict[tuple[str, tuple[float, ...]], bytes] = {}

    async def _connection(self) -> _Pipe:
        pipe = self._pipe
        if pipe is not None and not pipe.closed:
            return pipe
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _Pipe:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout_s):
            _, pipe = await loop.create_connection(
                lambda: _Pipe(self.timeout_s), self.host, self.port, ssl=self.ssl
            )
            for reply in await asyncio.gather(*(pipe.send(c) for c in self.hello)):
                if isinstance(reply, hiredis.ReplyError):
                    pipe.transport.abort()  # type: ignore[union-attr]  # connected: the watchdog runs only then
                    raise ConnectionError(f"redis refused the connection setup: {reply}")
        self._pipe = pipe
        return pipe

    async def evalsha(self, key: str, *args: float) -> list[int]:
        pipe = await self._connection()
        command = self._commands.get((key, args))
        if command is None:
            if len(self._commands) > 100_000:
                self._commands.clear()
            command = self._commands[(key, args)] = _command(b"EVALSHA", self.sha, b"1", key, *args)
        reply = await pipe.send(command)
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            # a restarted or flushed Redis: EVAL sends the script and caches it again
            reply = await pipe.send(_command(b"EVAL", self.script, b"1", key, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise ConnectionError(f"redis script error: {reply}")
        return reply  # type: ignore[return-value]  # EVALSHA of this script replies with a list of ints

    def close(self) -> None:
        if self._pipe is not None and self._pipe.transport is not None:
            self._pipe.transport.close()
        self._pipe = None
