"""The orchestrator's planning metrics (served on GET /metrics with the HTTP ones)."""

from prometheus_client import Counter, Histogram

PLANS = Counter("orchestrator_plans_total", "Task plans made, by who made them (rules or llm)", ["source"])
FALLBACKS = Counter(
    "orchestrator_plan_fallbacks_total",
    "Model plans not used (the rules planned instead), by reason",
    ["reason"],
)
PLAN_STEPS = Histogram(
    "orchestrator_plan_steps", "Steps per task plan", buckets=(1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50)
)
PLAN_TOKENS = Histogram(
    "orchestrator_plan_llm_tokens",
    "Model tokens (in and out) spent planning a task",
    buckets=(100, 250, 500, 1000, 2000, 4000, 8000, 16000),
)
