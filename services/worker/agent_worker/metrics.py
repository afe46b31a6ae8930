"""The worker's Prometheus metrics (served on METRICS_PORT, 9100)."""

from prometheus_client import Counter, Gauge, Histogram

# outcome: completed, duplicate, retry, failed (each tool's errors), stopped (its task ended)
STEPS = Counter("worker_steps_total", "Steps handled, by type and outcome", ["type", "outcome"])
STEP_SECONDS = Histogram(
    "worker_step_duration_seconds",
    "Time to run a step",
    ["type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
IN_FLIGHT = Gauge("worker_steps_in_flight", "Steps this process is running now")
DEAD_LETTERS = Counter("worker_dead_letters_total", "Messages moved to task_queue:dead")
RECLAIMED = Counter("worker_reclaimed_total", "Messages claimed from a consumer that stopped answering")
REQUEUED = Counter("worker_reconciler_requeued_total", "Steps the reconciler put back on the stream")
QUEUE_ERRORS = Counter("worker_queue_errors_total", "Failures talking to Redis or PostgreSQL", ["kind"])

# The backlog of the whole queue (every worker reports the same numbers: take max() across
# workers), refreshed every QUEUE_METRICS_INTERVAL_S by one Redis round trip.
QUEUE_LENGTH = Gauge("task_queue_length", "Messages in the task_queue stream (pending plus unread)")
QUEUE_PENDING = Gauge("task_queue_pending", "Messages handed to a worker and not yet acknowledged")
QUEUE_LAG = Gauge("task_queue_lag", "Messages in the stream that no worker of the group has read yet")
QUEUE_CONSUMERS = Gauge("task_queue_consumers", "Consumers (worker processes) the group has known")
DEAD_LETTER_LENGTH = Gauge("task_queue_dead_length", "Messages in the dead-letter stream task_queue:dead")

# planning and the model: what a task cost, the re-plans a model made
TASK_TOKENS = Histogram(
    "worker_task_llm_tokens",
    "Model tokens a completed task spent (plan and steps)",
    buckets=(0, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000),
)
REPLANS = Counter(
    "worker_replans_total",
    "Re-plans of a model's plan, by outcome (added, none, refused, failed)",
    ["outcome"],
)
