"""An answer from a real model: call it with the context and the tools, run the tools it
asks for (as the same user), call it again with their results, until it answers in words."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import replace

from agent_chat.tools import Orchestrator, run_tool
from agent_chat.turn import PARAGRAPH, Event, Outcome
from agent_common.llm import Completion, LLMRequest, Message, Provider, TextDelta
from agent_common.llm.budget import TokenBudget


class ModelTurn:
    def __init__(
        self,
        provider: Provider,
        request: LLMRequest,
        orchestrator: Orchestrator,
        user_id: str,
        *,
        max_tool_rounds: int,
        tool_result_max_chars: int,
        budget: TokenBudget | None = None,
    ) -> None:
        self.provider = provider
        self.budget = budget  # each model call is charged to the user's daily budget
        self.request = request
        self.orchestrator = orchestrator
        self.user_id = user_id
        self.max_tool_rounds = max_tool_rounds
        self.tool_result_max_chars = tool_result_max_chars
        self.outcome = Outcome(provider.name, provider.model)

    async def events(self, *, streaming: bool) -> AsyncGenerator[Event, None]:
        messages = list(self.request.messages)
        for _ in range(self.max_tool_rounds + 1):
            completion: Completion | None = None
            separated = not self.outcome.parts
            async for item in self._call(replace(self.request, messages=messages), streaming):
                if isinstance(item, Completion):
                    completion = item
                    continue
                if not separated:  # the texts of two calls are two paragraphs
                    separated = True
                    yield self.outcome.add_text(PARAGRAPH)
                yield self.outcome.add_text(item.text)
            assert completion is not None  # providers end every call with its Completion
            self.outcome.usage += completion.usage
            self.outcome.model = completion.model or self.outcome.model
            if not completion.tool_calls:
                return
            messages.append(Message("assistant", completion.text, tuple(completion.tool_calls)))
            for call in completion.tool_calls:
                result = await run_tool(self.orchestrator, self.user_id, call)
                self.outcome.note_tool(result)
                yield result
                messages.append(
                    Message("tool", result.for_model(self.tool_result_max_chars), tool_call_id=call.id)
                )
        if not self.outcome.parts:
            yield self.outcome.add_text("I ran the tools I could but have no answer yet; ask me again.")

    async def _call(self, request: LLMRequest, streaming: bool) -> AsyncIterator[TextDelta | Completion]:
        """One model call as items: text deltas (streamed or in one piece), then the Completion,
        charged to the user's token budget."""
        if self.budget is None:
            async for item in self._call_model(request, streaming):
                yield item
            return
        async with self.budget.charge(self.user_id, request, self.provider.max_tokens(request)) as charge:
            async for item in self._call_model(request, streaming):
                if isinstance(item, Completion):
                    charge.usage = item.usage
                yield item

    async def _call_model(
        self, request: LLMRequest, streaming: bool
    ) -> AsyncIterator[TextDelta | Completion]:
        if streaming:
            async with aclosing(self.provider.stream(request)) as items:
                async for item in items:
                    yield item
            return
        completion = await self.provider.complete(request)
        if completion.text:
            yield TextDelta(completion.text)
        yield completion
