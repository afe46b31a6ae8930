"""The gateway's own Prometheus metrics (requests and latency come from the shared
middleware): rate-limit refusals and the number of live sessions."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from agent_gateway.ratelimit import Verdict

RATE_LIMITED = Counter(
    "gateway_rate_limited_total",
    "Requests refused by a rate limit, by bucket (session: a session's API calls; "
    "session_create: new sessions per client address; session_lookup: failed session lookups per "
    "client address; chat, task_create: that route per session; chat_address, task_create_address: "
    "that route per client address) and reason (limit: 429; unavailable: 503, Redis down with "
    "RATE_LIMIT_ON_REDIS_ERROR=closed)",
    ["bucket", "reason"],
)
SESSIONS_ACTIVE = Gauge(
    "gateway_sessions_active",
    "Sessions neither expired nor revoked, in PostgreSQL (every replica reports the same: take max())",
)
# the four children, looked up once (labels() takes a lock)
BUCKETS = (
    "session",
    "session_create",
    "session_lookup",
    "chat",
    "chat_address",
    "task_create",
    "task_create_address",
)
_REFUSED = {(b, r): RATE_LIMITED.labels(b, r) for b in BUCKETS for r in ("limit", "unavailable")}


def refused(bucket: str, verdict: Verdict) -> None:
    _REFUSED[(bucket, "unavailable" if verdict.unavailable else "limit")].inc()
