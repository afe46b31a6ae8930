"""OpenAI Chat Completions through the official SDK. With LLM_BASE_URL the same code talks
to any compatible server: Ollama (http://localhost:11434/v1), vLLM, llama.cpp's server."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import openai

from agent_common.llm import errors
from agent_common.llm.sdk import SDKProvider, StreamState, parse_arguments
from agent_common.llm.settings import LLMSettings
from agent_common.llm.types import Completion, LLMRequest, Message, ToolCall, ToolSpec, Usage


class OpenAIProvider(SDKProvider):
    name = "openai"
    sdk = openai
    client_class = "AsyncOpenAI"
    key_var = "OPENAI_API_KEY"

    def __init__(self, settings: LLMSettings) -> None:
        super().__init__(settings)
        field_name = settings.llm_max_tokens_field
        if field_name == "auto":
            field_name = "max_tokens" if settings.llm_base_url else "max_completion_tokens"
        self.max_tokens_field = field_name

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request),
            self.max_tokens_field: self.max_tokens(request),
        }
        if request.tools:
            params["tools"] = [to_openai_tool(t) for t in request.tools]
        return params

    async def _complete(self, request: LLMRequest) -> Completion:
        response = await self._call(self.client.chat.completions.create(**self._params(request)))
        if not response.choices:
            raise errors.broken(self.name, "the answer held no choices")
        choice = response.choices[0]
        calls = tuple(
            _tool_call(c.id, c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or ()
            if getattr(c, "function", None)
        )
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            tool_calls=calls,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            model=response.model or self.model,
            stop_reason=choice.finish_reason,
        )

    def _open_stream(self, request: LLMRequest) -> Awaitable[Any]:
        opening: Awaitable[Any] = self.client.chat.completions.create(
            **self._params(request), stream=True, stream_options={"include_usage": True}
        )
        return opening

    def _stream_state(self) -> _StreamState:
        return _StreamState(model=self.model)


@dataclass
class _StreamState(StreamState):
    """Puts a streamed answer back together: text, tool calls by index, usage."""

    UNFINISHED: ClassVar[str] = "the stream ended without a finish reason"
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, chunk: Any) -> str:
        if chunk.usage:  # the last chunk, with stream_options.include_usage
            self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        if chunk.model:
            self.model = chunk.model
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta
        for call in (delta.tool_calls or []) if delta else []:
            slot = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": []})
            slot["id"] = slot["id"] or call.id or ""
            if call.function:
                slot["name"] = slot["name"] or call.function.name or ""
                slot["arguments"].append(call.function.arguments or "")
        text = (delta.content or "") if delta else ""
        if text:
            self.parts.append(text)
        return text

    def finished(self) -> bool:
        return self.finish_reason is not None

    def completion(self) -> Completion:
        calls = tuple(
            _tool_call(s["id"] or f"call_{i}", s["name"], "".join(s["arguments"]))
            for i, s in sorted(self.calls.items())
        )
        return Completion("".join(self.parts), calls, self.usage, self.model, self.finish_reason)


def to_openai_messages(request: LLMRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    out.extend(_message(m) for m in request.messages)
    return out


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    if m.tool_calls:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in m.tool_calls
        ]
        return {"role": "assistant", "content": m.content or None, "tool_calls": calls}
    return {"role": m.role, "content": m.content}


def to_openai_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def _tool_call(call_id: str, name: str, raw_arguments: str | None) -> ToolCall:
    return ToolCall(call_id, name, parse_arguments(raw_arguments))
