"""Streamed answers as Server-Sent Events:

    event: delta   data: {"text": "..."}                       a piece of the answer
    event: tool    data: {"name", "ok", "task_id"?, "status"?, "error"?}   a tool ran
    event: done    data: {"chat_id", "response", "model", "usage", "cost_usd", "tasks_started"}
    event: error   data: {"status", "detail"}                  the model failed mid-answer

The response starts only once the first event is ready, so a model that fails straight
away still gets a plain JSON 502/503/504. A client that disconnects cancels the stream,
which closes the upstream request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.responses import Response, StreamingResponse

from agent_chat import metrics
from agent_chat.responses import llm_error
from agent_chat.service import ChatService, Exchange
from agent_chat.tools import ToolResult
from agent_chat.turn import Event
from agent_common.llm import LLMError, TextDelta

log = logging.getLogger("agent.chat.sse")

HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# bounded cleanup after a disconnect: close upstream, record the failure
CLEANUP_S = 5.0


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def tool_event(result: ToolResult) -> dict[str, Any]:
    data: dict[str, Any] = {"name": result.name, "ok": result.ok}
    for key in ("task_id", "status", "error"):
        if result.data.get(key) is not None:
            data[key] = result.data[key]
    return data


def encode(item: Event) -> bytes:
    if isinstance(item, TextDelta):
        return event("delta", {"text": item.text})
    return event("tool", tool_event(item))


async def respond(service: ChatService, ex: Exchange) -> Response:
    events = ex.turn.events(streaming=True)
    try:
        first: Event | None = await anext(events)
    except StopAsyncIteration:
        first = None
    except LLMError as exc:
        await service.fail(ex, exc.detail, exc.kind)
        return llm_error(exc)
    return StreamingResponse(
        _body(service, ex, events, first), media_type="text/event-stream", headers=HEADERS
    )


async def _body(
    service: ChatService, ex: Exchange, events: AsyncGenerator[Event, None], first: Event | None
) -> AsyncIterator[bytes]:
    provider = ex.turn.outcome.provider
    first_delta = True
    try:
        pending = [first] if first is not None else []
        while True:
            item = pending.pop() if pending else await anext(events, None)
            if item is None:
                break
            if first_delta and isinstance(item, TextDelta):
                first_delta = False
                metrics.FIRST_DELTA_SECONDS.labels(provider).observe(time.perf_counter() - ex.started)
            yield encode(item)
    except LLMError as exc:
        await service.fail(ex, exc.detail, exc.kind)
        yield event("error", {"status": exc.status, "detail": exc.detail})
        return
    except (asyncio.CancelledError, GeneratorExit):  # the client went away: stop upstream, keep a record
        await _cleanup(service, ex, events, "the answer was cut off: the client disconnected", "disconnected")
        raise
    except Exception:
        log.exception("streaming the answer to message %d failed", ex.message_id)
        await _cleanup(service, ex, events, "internal error while answering", "internal_error")
        yield event("error", {"status": 500, "detail": "internal error"})
        return
    yield event("done", await service.finish(ex))


async def _cleanup(
    service: ChatService, ex: Exchange, events: AsyncGenerator[Event, None], error: str, outcome: str
) -> None:
    """Runs even inside a cancelled request (shielded), for a bounded time."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_S):
        await events.aclose()
        await service.fail(ex, error, outcome)
