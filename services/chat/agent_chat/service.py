"""The chat's work between HTTP and the assistants: store the message, pick the assistant,
and afterwards store the answer with its accounting (or the failure)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from agent_chat import context, metrics, store
from agent_chat.assistant import ModelTurn
from agent_chat.offline import OfflineTurn
from agent_chat.settings import ChatSettings
from agent_chat.tools import Orchestrator
from agent_chat.turn import Turn
from agent_common.llm import Provider, cost_usd
from agent_common.llm.budget import TokenBudget

log = logging.getLogger("agent.chat")


@dataclass
class Exchange:
    """One message and its answer in progress."""

    user_id: str
    message_id: int
    turn: Turn
    started: float

    def elapsed_ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)


class ChatService:
    def __init__(
        self,
        settings: ChatSettings,
        pool: asyncpg.Pool,
        provider: Provider | None,
        orchestrator: Orchestrator,
        budget: TokenBudget | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.provider = provider
        self.orchestrator = orchestrator
        self.budget = budget

    async def begin(self, user_id: str, message: str) -> Exchange:
        """Store the user's message first: whatever happens next, it is not lost."""
        started = time.perf_counter()
        message_id = await store.add_user_message(self.pool, user_id, message)
        turn: Turn
        if self.provider is None:
            turn = OfflineTurn(self.settings, self.orchestrator, user_id, message)
        else:
            request = await context.build(self.pool, self.settings, user_id, message_id)
            turn = ModelTurn(
                self.provider,
                request,
                self.orchestrator,
                user_id,
                max_tool_rounds=self.settings.chat_max_tool_rounds,
                tool_result_max_chars=self.settings.chat_tool_result_max_chars,
                budget=self.budget,
            )
        return Exchange(user_id, message_id, turn, started)

    async def finish(self, ex: Exchange) -> dict[str, Any]:
        """Store the answer with model, tokens, latency and cost; return the API's answer."""
        out = ex.turn.outcome
        # priced by the configured model name: an API may answer with a dated variant of it
        cost = cost_usd(self.settings.llm_prices, self.provider.model, out.usage) if self.provider else None
        acc = store.Accounting(
            out.model, out.usage.prompt_tokens, out.usage.completion_tokens, ex.elapsed_ms(), cost
        )
        chat_id = await store.add_assistant_message(self.pool, ex.user_id, out.text, acc)
        metrics.TURNS.labels(out.provider, "ok").inc()
        metrics.ANSWER_SECONDS.labels(out.provider).observe(acc.latency_ms / 1000)
        return {
            "response": out.text,
            "chat_id": chat_id,
            "model": out.model,
            "usage": {"prompt_tokens": acc.prompt_tokens, "completion_tokens": acc.completion_tokens},
            "cost_usd": float(cost) if cost is not None else None,
            "tasks_started": out.tasks_started,
        }

    async def fail(self, ex: Exchange, error: str, outcome: str) -> None:
        """The answer failed: keep why on the user's message."""
        metrics.TURNS.labels(ex.turn.outcome.provider, outcome).inc()
        log.warning("answer to message %d failed (%s): %s", ex.message_id, outcome, error)
        await store.record_failure(self.pool, ex.message_id, error, ex.turn.outcome.model, ex.elapsed_ms())
