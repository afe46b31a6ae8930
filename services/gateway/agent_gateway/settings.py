"""The gateway's settings (each an environment variable, e.g. SESSION_TTL_S)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent_common.settings import Settings


class GatewaySettings(Settings):
    service_name: str = Field("gateway", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"
    port: int = 8080

    # sessions
    session_ttl_s: int = Field(7 * 86_400, gt=0)
    # a session is re-read from PostgreSQL at most this often per replica; also the longest
    # a revoked session keeps working on another replica
    session_cache_ttl_s: float = Field(5.0, ge=0)
    session_cache_max: int = Field(100_000, ge=1)
    # POST /api/session, per client address (it writes a row without any credential)
    session_create_capacity: float = Field(100, gt=0)
    session_create_refill_per_s: float = Field(2.0, gt=0)
    # how often the gateway_sessions_active gauge is refreshed (one count query)
    sessions_gauge_interval_s: float = Field(30.0, gt=0)
    # proxies in front of the gateway whose X-Forwarded-For entry names the client (0: the peer)
    trusted_proxy_hops: int = Field(0, ge=0)
    # failed lookups of well-formed tokens (each a PostgreSQL query), per client address; once
    # spent, that address's tokens that are not cached are refused (429) until it refills
    session_lookup_failures_capacity: float = Field(50, gt=0)
    session_lookup_failures_refill_per_s: float = Field(1.0, gt=0)

    # cross-site request checks on cookie-authenticated unsafe requests: origins besides the
    # request's own host allowed to send them (comma-separated, e.g. https://app.example.com)
    csrf_trusted_origins: str = ""
    # Secure on the session cookie: always, never, or auto: when the request reached the
    # gateway over TLS, or the trusted proxies in front (TRUSTED_PROXY_HOPS) say so in
    # X-Forwarded-Proto; with no trusted proxy a client's X-Forwarded-Proto is not believed
    session_cookie_secure: Literal["auto", "always", "never"] = "auto"

    # per-session token bucket
    rate_limit_capacity: float = Field(120, gt=0)
    rate_limit_refill_per_s: float = Field(20, gt=0)
    # most tokens one Redis call takes for the requests waiting on a bucket (it asks for as
    # many as are waiting); leftovers are spent within RATE_LIMIT_LEASE_S; 1: a call each
    rate_limit_lease: int = Field(32, ge=1)
    rate_limit_lease_s: float = Field(1.0, gt=0)
    # when Redis cannot be asked: a per-replica bucket in memory (local), let all through
    # (open) or refuse with 503 (closed)
    rate_limit_on_redis_error: Literal["local", "open", "closed"] = "local"
    rate_limit_redis_timeout_s: float = Field(0.25, gt=0)
    # after a Redis failure, how long to use the fallback before trying Redis again
    rate_limit_redis_retry_s: float = Field(2.0, ge=0)
    # the costly routes have buckets of their own besides the session's: per session and per
    # client address (many users may share one address behind a NAT)
    chat_rate_capacity: float = Field(20, gt=0)  # POST /api/chat: a model call each
    chat_rate_refill_per_s: float = Field(0.5, gt=0)
    chat_address_capacity: float = Field(200, gt=0)
    chat_address_refill_per_s: float = Field(5.0, gt=0)
    task_create_rate_capacity: float = Field(60, gt=0)  # POST /api/task: a task, its steps, a fetch
    task_create_rate_refill_per_s: float = Field(1.0, gt=0)
    task_create_address_capacity: float = Field(600, gt=0)
    task_create_address_refill_per_s: float = Field(10.0, gt=0)

    # GET /api/upstreams (probes every upstream, PostgreSQL and Redis): one report per
    # replica at most this often, whoever asks; the upstreams' URLs only when this is on
    upstreams_report_ttl_s: float = Field(2.0, ge=0)
    upstreams_report_urls: bool = False

    # upstream connections (one pool per upstream)
    upstream_max_connections: int = Field(256, ge=1)
    # below the services' 75 s keep-alive, so the gateway is the side that closes idle ones
    upstream_keepalive_s: float = Field(30.0, gt=0)
    upstream_connect_timeout_s: float = Field(3.0, gt=0)
    upstream_pool_timeout_s: float = Field(5.0, gt=0)
    # the status line and headers of one upstream response; over it, 502
    upstream_max_header_bytes: int = Field(65_536, ge=1_024)
    # a request body must have arrived whole within this (else 408): no upstream connection
    # is taken before, so slow clients cannot hold them
    body_read_timeout_s: float = Field(10.0, gt=0)
    # time to the response headers, and between body chunks, unless the route overrides it;
    # event streams have no limit between chunks
    upstream_timeout_s: float = Field(30.0, gt=0)
    # per-route overrides by route name (JSON), e.g. {"chat": 120, "task_get": 5}
    route_timeouts_s: dict[str, float] = Field(default_factory=lambda: {"chat": 120.0})

    def route_timeout(self, route: str) -> float:
        return self.route_timeouts_s.get(route, self.upstream_timeout_s)

    def route_limits(self) -> dict[str, tuple[float, float, float, float]]:
        """Route name -> (per-session capacity, refill/s, per-address capacity, refill/s)."""
        return {
            "chat": (
                self.chat_rate_capacity,
                self.chat_rate_refill_per_s,
                self.chat_address_capacity,
                self.chat_address_refill_per_s,
            ),
            "task_create": (
                self.task_create_rate_capacity,
                self.task_create_rate_refill_per_s,
                self.task_create_address_capacity,
                self.task_create_address_refill_per_s,
            ),
        }

    def trusted_origins(self) -> frozenset[bytes]:
        return frozenset(
            o.strip().rstrip("/").lower().encode() for o in self.csrf_trusted_origins.split(",") if o.strip()
        )
