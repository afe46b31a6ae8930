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

    # upstream connections (one pool per upstream)
    upstream_max_connections: int = Field(256, ge=1)
    # below the services' 75 s keep-alive, so the gateway is the side that closes idle ones
    upstream_keepalive_s: float = Field(30.0, gt=0)
    upstream_connect_timeout_s: float = Field(3.0, gt=0)
    upstream_pool_timeout_s: float = Field(5.0, gt=0)
    # time to the response headers, and between body chunks, unless the route overrides it;
    # event streams have no limit between chunks
    upstream_timeout_s: float = Field(30.0, gt=0)
    # per-route overrides by route name (JSON), e.g. {"chat": 120, "task_get": 5}
    route_timeouts_s: dict[str, float] = Field(default_factory=lambda: {"chat": 120.0})

    def route_timeout(self, route: str) -> float:
        return self.route_timeouts_s.get(route, self.upstream_timeout_s)
