"""Anthropic's Messages API through the official SDK, streamed with token usage."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anthropic

from agent_common.llm.errors import LLMError
from agent_common.llm.sdk import SDKProvider, StreamState, parse_arguments
from agent_common.llm.types import Completion, LLMRequest, Message, ToolCall, ToolSpec, Usage

# error types Anthropic may send as an SSE `error` event in the middle of a 200 stream
_STREAM_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500}


class AnthropicProvider(SDKProvider):
    name = "anthropic"
    sdk = anthropic
    client_class = "AsyncAnthropic"
    key_var = "ANTHROPIC_API_KEY"

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens(request),
            "messages": to_anthropic_messages(request.messages),
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [to_anthropic_tool(t) for t in request.tools]
        return params

    async def _complete(self, request: LLMRequest) -> Completion:
        response = await self._call(self.client.messages.create(**self._params(request)))
        text = "".join(b.text for b in response.content if b.type == "text")
        calls = tuple(
            ToolCall(b.id, b.name, dict(b.input) if isinstance(b.input, dict) else {})
            for b in response.content
            if b.type == "tool_use"
        )
        return Completion(
            text, calls, _usage(response.usage), response.model or self.model, response.stop_reason
        )

    def _open_stream(self, request: LLMRequest) -> Awaitable[Any]:
        opening: Awaitable[Any] = self.client.messages.create(**self._params(request), stream=True)
        return opening

    def _stream_state(self) -> _StreamState:
        return _StreamState(model=self.model)

    def _error(self, exc: Exception, *, streaming: bool, status: int | None = None) -> LLMError:
        if status is None and isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
            # an `error` event inside a 200 stream: its type says what happened
            status = _STREAM_ERROR_STATUS.get(_error_type(exc.body), 500)
        return super()._error(exc, streaming=streaming, status=status)


@dataclass
class _StreamState(StreamState):
    """Puts a streamed message back together from its events."""

    UNFINISHED: ClassVar[str] = "the stream ended without message_stop"
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str | None = None
    stopped: bool = False

    def add(self, event: Any) -> str:
        kind = event.type
        if kind == "message_start":
            self.model = event.message.model or self.model
            usage = _usage(event.message.usage)
            self.prompt_tokens, self.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
            self.tools[event.index] = {"id": block.id, "name": block.name, "json": []}
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            if event.usage:  # cumulative counts
                self.completion_tokens = event.usage.output_tokens or self.completion_tokens
                if getattr(event.usage, "input_tokens", None):
                    self.prompt_tokens = _usage(event.usage).prompt_tokens
        elif kind == "message_stop":
            self.stopped = True
        return ""

    def finished(self) -> bool:
        return self.stopped

    def _delta(self, event: Any) -> str:
        delta = event.delta
        if delta.type == "text_delta":
            self.parts.append(delta.text)
            return str(delta.text)
        if delta.type == "input_json_delta" and event.index in self.tools:
            self.tools[event.index]["json"].append(delta.partial_json)
        return ""

    def completion(self) -> Completion:
        calls = tuple(
            ToolCall(t["id"], t["name"], parse_arguments("".join(t["json"]) or "{}"))
            for _, t in sorted(self.tools.items())
        )
        return Completion(
            "".join(self.parts),
            calls,
            Usage(self.prompt_tokens, self.completion_tokens),
            self.model,
            self.stop_reason,
        )


def _usage(usage: Any) -> Usage:
    """Prompt tokens include the cached ones: they are billed (at other rates) and fill the context."""
    prompt = sum(
        getattr(usage, name, 0) or 0
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, getattr(usage, "output_tokens", 0) or 0)


def _error_type(body: object) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type", ""))
    return ""


def to_anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic wants content blocks, tool results inside user turns, alternating roles
    and a user turn first; empty text blocks are refused."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role, blocks = _blocks(m)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    while out and out[0]["role"] != "user":
        out.pop(0)
    return out


def _blocks(m: Message) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        return "user", [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content.strip() else []
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls]
    return m.role, blocks


def to_anthropic_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
