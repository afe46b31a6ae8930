"""OpenTelemetry tracing for every service, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Unset (the default), nothing is installed: no SDK provider, no instrumentation, and the
helpers below return at once, so tracing costs nothing measurable. Set, `setup()` installs
the SDK with a batching OTLP/HTTP exporter (the standard OTEL_* variables apply: sampler,
batch delays, headers) and instruments httpx, asyncpg and redis-py; `instrument_app()` adds
the ASGI server spans to a FastAPI app.

Trace context crosses the Redis stream inside each StepMessage as a W3C `traceparent`
(`traceparent()` writes it, `consumer_span()` continues from it), so a task is one trace
from its POST to its last step.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.util.types import Attributes

TRACER_NAME = "agent_system"
# no server spans for probes and scrapes (every few seconds on every pod)
EXCLUDED_URLS = "/health$,/ready$,/metrics$"
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_enabled = False


def enabled() -> bool:
    return _enabled


def configured() -> bool:
    """Whether the environment asks for tracing (an OTLP endpoint, and not OTEL_SDK_DISABLED)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARS)


def setup(service: str) -> bool:
    """Install the SDK and the client instrumentations once per process; False (and nothing
    installed) when no OTLP endpoint is configured. OTEL_SERVICE_NAME overrides `service`."""
    global _enabled
    if _enabled or not configured():
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # the stable HTTP and database attribute names (http.response.status_code, ...), like
    # the gateway's own spans; OTEL_SEMCONV_STABILITY_OPT_IN=http/dup,database/dup adds the old
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
    attributes = {"service.instance.id": f"{socket.gethostname()}-{os.getpid()}"}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = service
    provider = TracerProvider(resource=Resource.create(attributes), sampler=_sampler())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_clients()
    _enabled = True
    return True


def _sampler() -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER names, except that a database or Redis call outside
    any trace (a worker's blocking read, a heartbeat, a sweeper) is not a trace of its own."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, _get_from_env_or_default

    inner = _get_from_env_or_default()

    class NoOrphanClientSpans(Sampler):
        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: trace.SpanKind | None = None,
            attributes: Attributes = None,
            links: Sequence[trace.Link] | None = None,
            trace_state: trace.TraceState | None = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == trace.SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            return inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"NoOrphanClientSpans{{{inner.get_description()}}}"

    return NoOrphanClientSpans()


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    HTTPXClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]  # its __init__ has no annotations
    RedisInstrumentor().instrument()


def instrument_app(app: FastAPI) -> None:
    """Server spans for a FastAPI app (outermost, so every log line of a request has its
    trace id); no spans for /health, /ready, /metrics, nor for each streamed body part."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def traceparent() -> str:
    """The current span's context as a W3C traceparent ("" when tracing is off or no span)."""
    if not _enabled:
        return ""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def context_from(traceparent: str, tracestate: str = "") -> otel_context.Context:
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


_NO_SPAN = contextlib.nullcontext(trace.INVALID_SPAN)


def span(
    name: str, *, kind: trace.SpanKind = trace.SpanKind.INTERNAL, attributes: dict[str, Any] | None = None
) -> contextlib.AbstractContextManager[trace.Span]:
    """A child span of the current one, made current; a shared no-op when tracing is off."""
    if not _enabled:
        return _NO_SPAN
    return tracer().start_as_current_span(name, kind=kind, attributes=attributes)


def _messaging(destination: str, operation: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The messaging conventions' attributes of a stream operation, then the caller's."""
    return {
        "messaging.system": "redis",
        "messaging.destination.name": destination,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        **extra,
    }


def producer_span(destination: str, **attributes: Any) -> contextlib.AbstractContextManager[trace.Span]:
    """`send <destination>` (messaging conventions): the message carries this span's context."""
    return span(
        f"send {destination}",
        kind=trace.SpanKind.PRODUCER,
        attributes=_messaging(destination, "send", attributes),
    )


@contextlib.contextmanager
def consumer_span(name: str, destination: str, traceparent: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span continuing the trace a message carries (kind CONSUMER), made current."""
    if not _enabled:
        yield trace.INVALID_SPAN
        return
    parent = context_from(traceparent) if traceparent else otel_context.Context()
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=_messaging(destination, "process", attributes),
    ) as current:
        yield current


def annotate(name: str | None, attributes: dict[str, Any]) -> None:
    """Rename the current span and add attributes (learned after it started)."""
    if not _enabled:
        return
    current = trace.get_current_span()
    if current.is_recording():
        if name:
            current.update_name(name)
        current.set_attributes(attributes)


def fail(current: trace.Span, error_type: str, description: str = "") -> None:
    """Mark a span failed (status ERROR, error.type) without an exception to record."""
    if current.is_recording():
        current.set_attribute("error.type", error_type)
        current.set_status(trace.Status(trace.StatusCode.ERROR, description[:500] or None))


def fail_current(error_type: str, description: str = "") -> None:
    if _enabled:
        fail(trace.get_current_span(), error_type, description)


def ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span in hex, None outside a span (for logs)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
