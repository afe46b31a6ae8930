"""What the gateway's lifespan opens and its handlers share."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import httpx
import redis.asyncio as aioredis
from agent_common import db
from agent_common.redisconn import create_redis
from starlette.types import Scope

from agent_gateway.ratelimit import RateLimiter, RedisPyRunner
from agent_gateway.sessions import Session, SessionStore, token_from_headers
from agent_gateway.settings import GatewaySettings
from agent_gateway.upstream import UpstreamPool

UPSTREAM_NAMES = ("chat", "orchestrator")


@dataclass
class GatewayState:
    settings: GatewaySettings
    pool: asyncpg.Pool | None = None
    redis: aioredis.Redis | None = None
    rl_redis: aioredis.Redis | None = None
    sessions: SessionStore | None = None
    limiter: RateLimiter | None = None
    http: httpx.AsyncClient | None = None
    upstreams: dict[str, UpstreamPool] = field(default_factory=dict)

    def upstream_url(self, name: str) -> str:
        return self.settings.chat_service_url if name == "chat" else self.settings.orchestrator_url

    async def open(self) -> None:
        s = self.settings
        self.pool = await db.create_pool(s)
        self.redis = create_redis(s)
        # the limiter's own client: short timeouts, so a hanging Redis delays a request little
        self.rl_redis = aioredis.Redis.from_url(
            s.redis_url, socket_timeout=s.rate_limit_redis_timeout_s,
            socket_connect_timeout=s.rate_limit_redis_timeout_s, max_connections=64)
        self.sessions = SessionStore(self.pool, ttl_s=s.session_ttl_s, cache_ttl_s=s.session_cache_ttl_s,
                                     cache_max=s.session_cache_max)
        self.limiter = RateLimiter(RedisPyRunner(self.rl_redis), on_redis_error=s.rate_limit_on_redis_error,
                                   retry_s=s.rate_limit_redis_retry_s)
        self.http = httpx.AsyncClient(timeout=2.0)
        for name in UPSTREAM_NAMES:
            self.upstreams[name] = UpstreamPool(
                name, self.upstream_url(name), max_connections=s.upstream_max_connections,
                keepalive_s=s.upstream_keepalive_s, connect_timeout_s=s.upstream_connect_timeout_s,
                pool_timeout_s=s.upstream_pool_timeout_s)

    async def close(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()
        if self.http is not None:
            await self.http.aclose()
        for client in (self.rl_redis, self.redis):
            if client is not None:
                await client.aclose()
        if self.pool is not None:
            await self.pool.close()

    async def authenticate(self, scope: Scope) -> Session | None:
        token = token_from_headers(scope["headers"])
        if not token:
            return None
        return await self.sessions.lookup(token)  # type: ignore[union-attr]
