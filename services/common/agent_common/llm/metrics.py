"""Prometheus metrics of model calls, in whichever process makes them (chat, worker)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from agent_common.llm.pricing import cost_by_kind
from agent_common.llm.settings import ModelPrice
from agent_common.llm.types import Usage

LLM_TOKENS = Counter(
    "llm_tokens_total",
    "Tokens used, by provider, model and kind (prompt, completion)",
    ["provider", "model", "kind"],
)
LLM_COST = Counter(
    "llm_cost_usd_total",
    "Estimated cost in USD where LLM_PRICES has the model",
    ["provider", "model", "kind"],
)
LLM_CALLS = Counter(
    "llm_requests_total", "Model calls, by outcome (ok or the error kind)", ["provider", "model", "outcome"]
)
LLM_SECONDS = Histogram(
    "llm_request_duration_seconds",
    "Time a model call took, to its last byte",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160),
)


def record_call(provider: str, model: str, outcome: str, seconds: float) -> None:
    LLM_CALLS.labels(provider, model, outcome).inc()
    LLM_SECONDS.labels(provider, model).observe(seconds)


def record_usage(provider: str, model: str, usage: Usage, prices: dict[str, ModelPrice]) -> None:
    LLM_TOKENS.labels(provider, model, "prompt").inc(usage.prompt_tokens)
    LLM_TOKENS.labels(provider, model, "completion").inc(usage.completion_tokens)
    costs = cost_by_kind(prices, model, usage)
    for kind, usd in (costs or {}).items():
        LLM_COST.labels(provider, model, kind).inc(float(usd))
