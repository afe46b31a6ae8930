"""The reverse proxy as plain ASGI: headers in and out, the request body read whole (capped,
under a deadline) before an upstream connection is taken, the response streamed back.

Headers go both ways as every proxy here passes them (agent_common.forwarding): hop-by-hop
ones dropped, X-Forwarded-For, X-Forwarded-Proto and X-Request-ID set by the proxy. The
gateway also drops the client's credentials (Authorization, Cookie) and its X-User-Id, and
sets X-User-Id to the session's user.

Why the body is read first: a connection taken at the first body chunk would be held for
as long as the client takes to send the rest, so a few slow clients could hold every
upstream connection. Bodies are capped (MAX_BODY_BYTES), so holding one costs little.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Scope, Send

from agent_common import forwarding
from agent_common.logs import request_id_var
from agent_gateway.upstream import Response, UpstreamError, UpstreamPool

log = logging.getLogger("agent.gateway.proxy")

# besides what every proxy drops (agent_common.forwarding): the client's credentials and its
# claim about who the user is (the gateway sets X-User-Id from the session)
_DROP_REQUEST = forwarding.REQUEST_DROP | {b"authorization", b"cookie", b"x-user-id"}
_TRACE_HEADERS = (b"traceparent:", b"tracestate:")
# set in the scope once the response has started (after that, an error can only cut it)
STARTED = "gateway.response_started"


def upstream_headers(scope: Scope, user_id: str, request_id: str) -> tuple[list[bytes], int | None, bool]:
    """(header lines for the upstream, the client's content-length, whether a body follows)."""
    out = forwarding.request_headers(scope["headers"], _DROP_REQUEST)
    lines = [b"%b: %b\r\n" % header for header in out.headers]
    # what forwarding.forwarding_headers gives, and the user, formatted at once (a hot path)
    proto = forwarding.forwarded_proto(out.claimed_proto, scope["scheme"])
    lines.append(
        b"x-forwarded-for: %b\r\nx-forwarded-proto: %b\r\nx-request-id: %b\r\nx-user-id: %b\r\n"
        % (forwarding.forwarded_for(out.chain, scope), proto, request_id.encode(), user_id.encode())
    )
    return lines, out.content_length, out.has_body


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


async def forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    pool: UpstreamPool,
    target: str,
    user_id: str,
    timeout: float,
    body_timeout: float,
    trace_lines: list[bytes] | None = None,
) -> None:
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
    headers, event_stream = forwarding.response_headers(response.headers)
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
