"""A summary written by the configured model (the worker's summarize step when
LLM_PROVIDER is not offline). The caller falls back to the extractive summary on failure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agent_common.llm import errors
from agent_common.llm.base import Provider
from agent_common.llm.budget import TokenBudget
from agent_common.llm.factory import make_provider
from agent_common.llm.pricing import cost_usd
from agent_common.llm.settings import LLMSettings
from agent_common.llm.types import Completion, LLMRequest, Message

PROMPT = (
    "Summarize the text the user sends in 3 to 5 plain sentences: its main points, in the text's own "
    "language, without an introduction such as 'This text'. Do not add facts that are not in the text."
)


@dataclass(frozen=True, slots=True)
class ModelSummary:
    text: str
    usage: dict[str, object]  # provider, model, prompt_tokens, completion_tokens, cost_usd


async def summarize_with_llm(
    settings: LLMSettings,
    text: str,
    title: str | None,
    *,
    budget: TokenBudget | None = None,
    user_id: str = "",
) -> ModelSummary:
    """Raises LLMError when the model fails, answers nothing, or takes too long, or when
    `budget` has no room left today for `user_id`."""
    provider = make_provider(settings)
    if provider is None:
        raise ValueError("LLM_PROVIDER is offline: there is no model to ask")
    clipped = text[: settings.summary_llm_input_max_chars]
    body = f"Title: {title}\n\n{clipped}" if title else clipped
    request = LLMRequest(
        system=PROMPT, messages=[Message("user", body)], max_tokens=settings.summary_llm_max_tokens
    )
    try:
        if budget is None:
            completion = await _complete(provider, request, settings.summary_llm_timeout_s)
        else:
            async with budget.charge(user_id, request, provider.max_tokens(request)) as charge:
                completion = await _complete(provider, request, settings.summary_llm_timeout_s)
                charge.usage = completion.usage
    finally:
        await provider.close()
    if not completion.text.strip():
        raise errors.LLMError("upstream_error", f"the {provider.name} API answered with an empty summary")
    usage = completion.usage
    cost = cost_usd(settings.llm_prices, provider.model, usage)  # priced by the configured name
    return ModelSummary(
        completion.text.strip(),
        {
            "provider": provider.name,
            "model": completion.model,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": float(cost) if cost is not None else None,
        },
    )


async def _complete(provider: Provider, request: LLMRequest, timeout_s: float) -> Completion:
    try:
        return await asyncio.wait_for(provider.complete(request), timeout_s)
    except TimeoutError:
        raise errors.timeout(provider.name, timeout_s) from None
