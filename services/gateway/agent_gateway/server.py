"""uvicorn for the gateway: its httptools protocol with writes coalesced per event-loop turn,
and a leaner request middleware.

uvicorn writes a response's headers and each body part with separate socket writes, so a
small JSON answer costs two send() calls; under load that was the largest single item in
the gateway's profile (docs/gateway.md). Here the writes made during one turn of the event
loop leave as one: a proxied answer (start and body sent back to back) is one send(), and
nothing waits longer than the end of the current turn.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agent_common.logs import request_id_var
from agent_common.web import HTTP_LATENCY, HTTP_REQUESTS, BodyTooLarge, ServiceMiddleware, _clean_request_id


class CoalescingTransport:
    """A transport whose write() is sent at the end of the current loop turn, together with
    any other write of the same turn. close() sends what is pending first."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    # the rest as the real transport (explicit: these are called on every request)
    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


class GatewayMiddleware(ServiceMiddleware):
    """ServiceMiddleware's behaviour (request id, body limit, metrics) at a lower cost per
    request, as the gateway's profile asked: one pass over the headers instead of a dict,
    a request id from os.urandom instead of uuid4, no receive wrapper for a request without
    a body, and each (method, route, status)'s metric children looked up once
    (prometheus_client's labels() takes a lock and builds a tuple on every call)."""

    _children: dict[tuple[str, str, int], tuple[MetricWrapperBase, MetricWrapperBase]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = _clean_request_id(value)
            elif name == b"content-length":
                declared, has_body = value, True
            elif name == b"transfer-encoding":
                has_body = True
        request_id = request_id or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                await self._reject_too_large(scope, receive, send, request_id)
                return
            started = time.perf_counter()
            id_header = (b"x-request-id", request_id.encode())

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), id_header]
                    self._observe(scope, message["status"], time.perf_counter() - started)
                await send(message)

            try:
                await self.app(scope, self._limited(receive) if has_body else receive, send_wrapper)
            except BodyTooLarge:
                await self._reject_too_large(scope, receive, send, request_id)
        finally:
            request_id_var.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited_receive

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        path = getattr(scope.get("route"), "path", None) or "unmatched"
        key = (scope["method"], path, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(self.service, key[0], path, str(status)),
                HTTP_LATENCY.labels(self.service, key[0], path))
        children[0].inc()  # type: ignore[attr-defined]
        children[1].observe(seconds)  # type: ignore[attr-defined]
