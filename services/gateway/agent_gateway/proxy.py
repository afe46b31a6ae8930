"""The reverse proxy as plain ASGI: headers in and out, the request body read whole (capped,
under a deadline) before an upstream connection is taken, the response streamed back.

Request headers: hop-by-hop ones (and any the Connection header names) are dropped, and so
are the client's credentials (Authorization, Cookie) and anything it claims about identity
or routing (X-User-Id, X-Forwarded-*, Forwarded, X-Request-ID); the gateway then sets
X-User-Id (the session's user), X-Request-ID, X-Forwarded-For (the client's chain plus the
peer) and X-Forwarded-Proto. Response headers: hop-by-hop ones (and any the upstream's
Connection header names), Server, Date and the upstream's X-Request-ID are dropped (uvicorn
and the request-id middleware set their own).

Why the body is read first: a connection taken at the first body chunk would be held for
as long as the client takes to send the rest, so a few slow clients could hold every
upstream connection. Bodies are capped (MAX_BODY_BYTES), so holding one costs little.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Scope, Send

from agent_common.logs import request_id_var
from agent_gateway.upstream import Response, UpstreamError, UpstreamPool

log = logging.getLogger("agent.gateway.proxy")

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
_DROP_REQUEST = HOP_BY_HOP | {
    b"host", b"content-length", b"expect", b"authorization", b"cookie", b"x-user-id", b"x-request-id",
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded",
}
_DROP_RESPONSE = HOP_BY_HOP | {b"server", b"date", b"x-request-id"}
_EVENT_STREAM = b"text/event-stream"
_TRACE_HEADERS = (b"traceparent:", b"tracestate:")
# set in the scope once the response has started (after that, an error can only cut it)
STARTED = "gateway.response_started"


def client_address(scope: Scope, trusted_hops: int) -> str:
    """The client's address: the peer, or the entry that the trusted proxies in front added."""
    if trusted_hops:
        chain = [v for n, v in scope["headers"] if n == b"x-forwarded-for"]
        hops = [h.strip() for h in b",".join(chain).split(b",") if h.strip()]
        if hops:
            return hops[-min(trusted_hops, len(hops))].decode("latin-1")
    client = scope.get("client")
    return client[0] if client else "unknown"


def forwarded_proto(headers: list[tuple[bytes, bytes]], scheme: str) -> bytes:
    """https when the request reached us (or the proxy before us) over TLS."""
    for name, value in headers:
        if name == b"x-forwarded-proto":
            value = value.split(b",")[0].strip().lower()
            if value in (b"http", b"https"):
                return value
    return scheme.encode()


def upstream_headers(scope: Scope, user_id: str, request_id: str) -> tuple[list[bytes], int | None, bool]:
    """(header lines for the upstream, the client's content-length, whether a body follows)."""
    lines: list[bytes] = []
    chain: list[bytes] = []
    named: set[bytes] = set()
    content_length: int | None = None
    has_body = False
    proto = None
    for name, value in scope["headers"]:
        if name not in _DROP_REQUEST:
            lines.append(b"%b: %b\r\n" % (name, value))
        elif name == b"x-forwarded-for":
            chain.append(value)
        elif name == b"content-length":
            content_length = int(value)  # digits only: checked by the body-limit middleware
            has_body = content_length > 0
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"x-forwarded-proto":
            proto = value
        elif name == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    if named - HOP_BY_HOP:  # "Connection: X-Secret" makes X-Secret hop-by-hop too
        named -= HOP_BY_HOP
        lines = [line for line in lines if line.split(b":", 1)[0] not in named]
    client = scope.get("client")
    chain.append((client[0] if client else "unknown").encode())
    if proto is None or proto.lower() not in (b"http", b"https"):
        proto = scope["scheme"].encode()
    lines.append(b"x-forwarded-for: %b\r\nx-forwarded-proto: %b\r\nx-user-id: %b\r\nx-request-id: %b\r\n" % (
        b", ".join(chain), proto.lower(), user_id.encode(), request_id.encode()))
    return lines, content_length, has_body


async def read_body(receive: Receive, deadline_s: float) -> bytes:
    """The whole request body, or BodyTimeout when it has not all arrived within `deadline_s`
    (the size cap is the body-limit middleware's, which wraps `receive`)."""
    parts: list[bytes] = []
    try:
        async with asyncio.timeout(deadline_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyTimeout from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


class ClientGone(Exception):
    """The client hung up before the response was complete."""


class BodyTimeout(Exception):
    """The request body did not arrive in time (a slow or stalled client): 408."""


def response_headers(response: Response) -> tuple[list[tuple[bytes, bytes]], bool]:
    """(headers for the client, whether the body is an event stream)."""
    headers = []
    event_stream = False
    named: set[bytes] | None = None
    for name, value in response.headers:
        if name in _DROP_RESPONSE:
            if name == b"connection":
                named = (named or set()) | {t.strip().lower() for t in value.split(b",")}
            continue
        if name == b"content-type" and value.startswith(_EVENT_STREAM):
            event_stream = True
        headers.append((name, value))
    if named:  # "Connection: X-Internal" makes X-Internal hop-by-hop: it ends here
        headers = [(n, v) for n, v in headers if n not in named]
    return headers, event_stream


async def forward(scope: Scope, receive: Receive, send: Send, *, pool: UpstreamPool, target: str,
                  user_id: str, timeout: float, body_timeout: float,
                  trace_lines: list[bytes] | None = None) -> None:
    """Read the request body (BodyTimeout after `body_timeout`), send the request to `pool`
    at `target` and stream the answer back. Raises UpstreamError before the response has
    started; after that, a failure cuts the response. `trace_lines` (when tracing) replace
    the client's traceparent and tracestate headers."""
    request_id = request_id_var.get() or ""
    lines, _, has_body = upstream_headers(scope, user_id, request_id)
    if trace_lines is not None:
        lines = [line for line in lines if not line.lower().startswith(_TRACE_HEADERS)] + trace_lines
    query = scope["query_string"]
    path = (target.encode() + b"?" + query) if query else target.encode()
    method = scope["method"].encode()
    body = await read_body(receive, body_timeout) if has_body else b""
    response = await pool.request(method, path, lines, body=body, timeout=timeout)
    try:
        await _relay(response, scope, receive, send, timeout)
    finally:
        response.release()


async def _relay(response: Response, scope: Scope, receive: Receive, send: Send, timeout: float) -> None:
    headers, event_stream = response_headers(response)
    whole = response.whole_body()
    scope[STARTED] = True
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if whole is not None:
        await send({"type": "http.response.body", "body": whole})
        return
    # streamed: no read timeout between events; stop when the client goes away
    read_timeout = None if event_stream else timeout
    watcher = asyncio.ensure_future(_watch_disconnect(receive, response))
    try:
        while True:
            try:
                chunk = await response.next_chunk(read_timeout)
            except UpstreamError as exc:
                if not watcher.done():
                    log.warning("response cut: %s", exc)
                return  # uvicorn closes the connection: the client sees a truncated body
            if not chunk:
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        watcher.cancel()


async def _watch_disconnect(receive: Receive, response: Response) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    response.abandon("stream abandoned by the client")
