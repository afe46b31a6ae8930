"""Spans of model calls with the GenAI semantic conventions (gen_ai.*): which system and
model, how many tokens went in and came out, and how the call ended."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from agent_common import tracing
from agent_common.llm.types import Completion

OPERATION = "chat"


def _attributes(system: str, model: str, max_tokens: int) -> dict[str, AttributeValue]:
    return {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.system": system,
        "gen_ai.provider.name": system,  # the newer conventions' name for gen_ai.system
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
    }


@contextlib.contextmanager
def call_span(system: str, model: str, max_tokens: int, *, current: bool) -> Iterator[trace.Span]:
    """`chat <model>` (kind CLIENT). `current=False` for a stream: its generator may resume
    in another task's context, so the span is ended here but never made current."""
    if not tracing.enabled():
        yield trace.INVALID_SPAN
        return
    name = f"{OPERATION} {model}"
    attributes = _attributes(system, model, max_tokens)
    if current:
        with tracing.tracer().start_as_current_span(
            name, kind=trace.SpanKind.CLIENT, attributes=attributes
        ) as span:
            yield span
        return
    span = tracing.tracer().start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
    try:
        yield span
    except GeneratorExit:  # the caller stopped reading: not a failure of the call
        span.set_attribute("agent.outcome", "cancelled")
        raise
    except BaseException as exc:
        span.record_exception(exc)
        tracing.fail(span, exc.__class__.__name__, str(exc))
        raise
    finally:
        span.end()


def record_completion(span: trace.Span, result: Completion) -> None:
    if span.is_recording():
        span.set_attributes(
            {
                "gen_ai.response.model": result.model,
                "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": result.usage.completion_tokens,
            }
        )
        if result.stop_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [result.stop_reason])


def record_failure(span: trace.Span, kind: str, detail: str) -> None:
    tracing.fail(span, kind, detail)
