"""The chat service's own Prometheus metrics (token usage and cost per model call are
recorded by agent_common.llm as llm_tokens_total and llm_cost_usd_total)."""

from prometheus_client import Counter, Histogram

TURNS = Counter(
    "chat_answers_total", "Answers to chat messages, by provider and outcome", ["provider", "outcome"]
)
ANSWER_SECONDS = Histogram(
    "chat_answer_duration_seconds",
    "Time from a message to its whole answer",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80),
)
FIRST_DELTA_SECONDS = Histogram(
    "chat_first_delta_seconds",
    "Time from a message to its first streamed text",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20),
)
