"""Spans of the proxy fast path, made by hand: the path bypasses FastAPI, httpx and redis-py,
so no instrumentation sees it. One SERVER span per proxied request continues the caller's
traceparent (a browser's, or the frontend proxy's); the rate limit's Redis call is a CLIENT
span; the upstream gets the server span's context. Only called when tracing is on."""

from __future__ import annotations

from opentelemetry import propagate, trace
from starlette.types import Message, Receive, Scope, Send

from agent_common import tracing

CLIENT = trace.SpanKind.CLIENT
_PROPAGATED = ("traceparent", "tracestate")
RATE_LIMIT_ATTRIBUTES = {"db.system": "redis", "db.system.name": "redis", "db.operation.name": "EVALSHA"}


def _incoming(headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    parent = state = ""
    for name, value in headers:
        if name == b"traceparent":
            parent = value.decode("latin-1")
        elif name == b"tracestate":
            state = value.decode("latin-1")
    return parent, state


def server_span(scope: Scope, method: str, route: str, name: str) -> trace.Span:
    parent, state = _incoming(scope["headers"])
    context = tracing.context_from(parent, state) if parent else None
    return tracing.tracer().start_span(
        f"{method} {route}",
        context=context,
        kind=trace.SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "http.route": route,
            "url.scheme": scope["scheme"],
            "agent.route": name,
        },
    )


def recording_send(span: trace.Span, send: Send) -> Send:
    """`send` that puts the response status on the span."""

    async def wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                tracing.fail(span, str(status))
        await send(message)

    return wrapper


def upstream_lines() -> list[bytes]:
    """The current context as header lines for the upstream request."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [f"{k}: {v}\r\n".encode("latin-1") for k, v in carrier.items() if k in _PROPAGATED]


async def run_in_span(
    span: trace.Span, app: object, scope: Scope, receive: Receive, send: Send, *args: object
) -> None:
    with trace.use_span(span, end_on_exit=True):
        await app(scope, receive, recording_send(span, send), *args)  # type: ignore[operator]  # app is an ASGI app or the fast path's own (extra arguments)
