"""Cost estimates from the configured per-model prices (LLM_PRICES)."""

from __future__ import annotations

from decimal import Decimal

from agent_common.llm.settings import ModelPrice
from agent_common.llm.types import Usage

_MILLION = Decimal(1_000_000)


def cost_by_kind(prices: dict[str, ModelPrice], model: str, usage: Usage) -> dict[str, Decimal] | None:
    """{"prompt": USD, "completion": USD}, or None when no price is configured for the model.

    `model` is the configured name (LLM_MODEL), as in LLM_PRICES: APIs may answer with a
    dated variant ("gpt-4o-mini-2024-07-18") that the prices would not list."""
    price = prices.get(model)
    if price is None:
        return None
    return {
        "prompt": Decimal(str(price.input)) * usage.prompt_tokens / _MILLION,
        "completion": Decimal(str(price.output)) * usage.completion_tokens / _MILLION,
    }


def cost_usd(prices: dict[str, ModelPrice], model: str, usage: Usage) -> Decimal | None:
    parts = cost_by_kind(prices, model, usage)
    return None if parts is None else sum(parts.values(), Decimal(0))
