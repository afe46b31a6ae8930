"""Loopback upstreams for the gateway tests.

EchoUpstream: uvicorn (httptools) in a thread. Any path answers a JSON echo of the request
(method, path, query, headers, body, client port) with a few headers the gateway must
drop; special paths are slow, stall, big or an event stream that waits for the test.
BrokenUpstream: a raw socket server whose answer the request body chooses: not HTTP, a
close, a reset, half a response, or a proper answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time

import orjson
import uvicorn
from starlette.types import Receive, Scope, Send

from agent_common.devstack import free_port

SSE_FIRST = b'event: delta\ndata: {"delta": "Hel"}\n\n'
SSE_SECOND = b'event: delta\ndata: {"delta": "lo"}\n\n'
SSE_DONE = b'event: done\ndata: {"response": "Hello", "chat_id": "c1"}\n\n'
BIG_CHUNK = 64 * 1024
BIG_CHUNKS = 64  # 4 MiB


class EchoUpstream:
    def __init__(self) -> None:
        self.port = free_port()
        self.client_ports: set[int] = set()
        self.sse_gate = threading.Event()  # the event stream waits for this after its first event
        self.sse_pause_s = 0.0  # then pauses this long (longer than the gateway's read timeout)
        self.sse_disconnected = threading.Event()
        self.first_chunk = threading.Event()  # a request body's first chunk has arrived
        self.body_chunks: list[int] = []
        self.ready_calls = 0  # GET /ready (the gateway's upstreams report probes it)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            http="httptools",
            lifespan="off",
            log_level="warning",
            timeout_keep_alive=75,
            interface="asgi3",
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EchoUpstream:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("echo upstream did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def reset(self) -> None:
        self.sse_gate.clear()
        self.sse_disconnected.clear()
        self.first_chunk.clear()
        self.sse_pause_s = 0.0
        self.body_chunks.clear()

    # ---- the ASGI app -------------------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.client_ports.add(scope["client"][1])
        path = scope["path"]
        headers = dict(scope["headers"])
        if path == "/ready":
            self.ready_calls += 1
        if path == "/chat" and headers.get(b"accept", b"").startswith(b"text/event-stream"):
            await self._drain_body(receive)
            await self.event_stream(receive, send)
        elif path == "/task/slow":
            await asyncio.sleep(3)
            await self.echo(scope, receive, send)
        elif path == "/task/stall":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"20")],
                }
            )
            await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
            await asyncio.sleep(3)
            await send({"type": "http.response.body", "body": b"0123456789"})
        elif path == "/task/big":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")],
                }
            )
            for i in range(BIG_CHUNKS):
                await send({"type": "http.response.body", "body": bytes([i]) * BIG_CHUNK, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await self.echo(scope, receive, send)

    async def _drain_body(self, receive: Receive) -> bytes:
        body = b""
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                self.body_chunks.append(len(chunk))
                self.first_chunk.set()
            body += chunk
            if not message.get("more_body", False):
                return body

    async def echo(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._drain_body(receive)
        answer = orjson.dumps(
            {
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query": scope["query_string"].decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
                "body": body.decode("latin-1"),
                "client_port": scope["client"][1],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                    (b"keep-alive", b"timeout=5"),
                    (b"x-upstream", b"yes"),
                    (b"server", b"secret-upstream/1.0"),
                    (b"x-request-id", b"upstream-made-this-up"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def event_stream(self, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            self.sse_disconnected.set()

        watcher = asyncio.ensure_future(watch())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": SSE_FIRST, "more_body": True})
        deadline = time.monotonic() + 15
        while not self.sse_gate.is_set() and not gone.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if not gone.is_set():
            await asyncio.sleep(self.sse_pause_s)
            await send({"type": "http.response.body", "body": SSE_SECOND, "more_body": True})
            await send({"type": "http.response.body", "body": SSE_DONE})
        watcher.cancel()


# answers a desynced or careless upstream might give (the request body names one)
STRAY_ANSWERS = {
    # a complete 200, then in the same write a response nobody asked for
    b"stray": (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        b"HTTP/1.1 302 Found\r\nlocation: https://evil.example/\r\nset-cookie: session=stolen\r\n"
        b"content-length: 5\r\n\r\nHELLO"
    ),
    # 200 KB of headers
    b"bigheaders": (
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(b"x-filler-%d: %s\r\n" % (i, b"f" * 90) for i in range(2000))
        + b"content-length: 2\r\n\r\n{}"
    ),
    # a header made hop-by-hop by naming it in Connection
    b"hopheader": (
        b"HTTP/1.1 200 OK\r\nconnection: x-internal-hop\r\nx-internal-hop: secret\r\n"
        b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    ),
    # a transfer coding other than chunked (its body would end at the close)
    b"gzip": b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-type: text/plain\r\n\r\nnot really gzip",
}


class BrokenUpstream:
    """Raw sockets: the body says how to misbehave (garbage, close, reset, partial, ok)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BrokenUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # idle keep-alive connections time out
            conn.settimeout(10)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                if not self._answer(conn, body):
                    return

    @staticmethod
    def _answer(conn: socket.socket, body: bytes) -> bool:
        """Answer one request; False when the connection is done."""
        if b"garbage" in body:
            conn.sendall(b"THIS IS NOT HTTP AT ALL\r\n\r\n")
            return False
        if b"reset" in body:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if b"close" in body:
            return False
        for behaviour, answer in STRAY_ANSWERS.items():
            if behaviour in body:
                conn.sendall(answer)
                return behaviour != b"gzip"  # that one's body ends at the close
        if b"partial" in body:
            conn.sendall(
                b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"part'
            )
            return False
        answer = b'{"ok":true}'
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
            % (len(answer), answer)
        )
        return True
