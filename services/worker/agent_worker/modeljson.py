"""Ask the configured model for one JSON object (the answer and compare steps).

The model's usage (tokens, cost) comes back even when its answer is unusable, so a step
that falls back to its offline method still records what the call cost."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent_common.llm import LLMError, LLMRequest, LLMSettings, Message, cost_usd, make_provider
from agent_common.llm import errors as llm_errors

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)

log = logging.getLogger("agent.worker.model")


@dataclass(frozen=True)
class ModelJSON:
    data: dict[str, Any] | None  # None when the answer held no JSON object
    usage: dict[str, Any]  # provider, model, prompt_tokens, completion_tokens, cost_usd
    problem: str | None = None  # why `data` is None


async def ask_json(
    settings: LLMSettings, system: str, user: str, *, max_tokens: int, timeout_s: float
) -> ModelJSON:
    """One completion, parsed as a JSON object. Raises LLMError when the call itself fails."""
    provider = make_provider(settings)
    if provider is None:
        raise ValueError("LLM_PROVIDER is offline: there is no model to ask")
    request = LLMRequest(system=system, messages=[Message("user", user)], max_tokens=max_tokens)
    try:
        completion = await asyncio.wait_for(provider.complete(request), timeout_s)
    except TimeoutError:
        raise llm_errors.timeout(provider.name, timeout_s) from None
    finally:
        await provider.close()
    cost = cost_usd(settings.llm_prices, provider.model, completion.usage)
    usage = {
        "provider": provider.name,
        "model": completion.model,
        "prompt_tokens": completion.usage.prompt_tokens,
        "completion_tokens": completion.usage.completion_tokens,
        "cost_usd": float(cost) if cost is not None else None,
    }
    data, problem = parse_object(completion.text)
    return ModelJSON(data, usage, problem)


def parse_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in a model's answer: the whole answer, a fenced block, or the outermost
    braces within prose. Returns (object, None) or (None, what was wrong)."""
    body = _FENCE.sub("", text.strip())
    for candidate in (body, body[body.find("{") : body.rfind("}") + 1]):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data, None
    shown = " ".join(text.split())[:120]
    if not shown:
        return None, "the model answered nothing"
    return None, f"the model's answer was not a JSON object: {shown!r}"


__all__ = ["LLMError", "ModelJSON", "ask_json", "parse_object"]


ModelOutput = tuple[dict[str, Any] | None, str | None]  # (the step's output, or why the model's is not used)


async def model_or_offline(
    provider: str,
    by_model: Callable[[], Awaitable[ModelOutput]],
    offline: Callable[[], Awaitable[dict[str, Any]]],
    what: str,
    task_id: str,
) -> dict[str, Any]:
    """The model's output when LLM_PROVIDER names one and its answer is usable; else the
    offline output, with `llm_error` saying why the model's was not used."""
    llm_error = None
    if provider != "offline":
        try:
            output, llm_error = await by_model()
            if output is not None:
                return output
        except LLMError as exc:
            llm_error = exc.detail
        log.warning("model %s of task %s not used, done offline: %s", what, task_id, llm_error)
    output = await offline()
    if llm_error:
        output["llm_error"] = llm_error
    return output
