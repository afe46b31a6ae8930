"""What the gateway's lifespan opens and its handlers share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import asyncpg
import httpx
import redis.asyncio as aioredis
from starlette.types import Scope

from agent_common import db
from agent_common.checks import Check
from agent_common.forwarding import client_address
from agent_common.redisconn import create_redis
from agent_gateway import metrics
from agent_gateway.ratelimit import SCRIPT, RateLimiter, RedisPyRunner, ScriptRunner, Verdict
from agent_gateway.redisfast import FastRedis
from agent_gateway.sessions import Session, SessionStore, token_from_headers
from agent_gateway.settings import GatewaySettings
from agent_gateway.upstream import UpstreamPool

UPSTREAM_NAMES = ("chat", "orchestrator")
# client addresses refused for failed session lookups, remembered per replica (oldest go first)
_MAX_BLOCKED = 100_000


class LookupRefused(Exception):
    """This client address made too many failed session lookups: 429 without a query."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("too many failed session lookups")
        self.verdict = verdict


@dataclass
class GatewayState:
    """What the gateway holds open. The resources exist from open() on (the lifespan calls
    it before the first request); close() closes those that open() got to."""

    settings: GatewaySettings
    pool: asyncpg.Pool = field(init=False)
    redis: aioredis.Redis = field(init=False)
    runner: ScriptRunner = field(init=False)
    sessions: SessionStore = field(init=False)
    limiter: RateLimiter = field(init=False)
    http: httpx.AsyncClient = field(init=False)
    upstreams: dict[str, UpstreamPool] = field(default_factory=dict)
    # address -> monotonic time until which its uncached tokens are refused
    blocked: dict[str, float] = field(default_factory=dict)

    def upstream_url(self, name: str) -> str:
        return self.settings.chat_service_url if name == "chat" else self.settings.orchestrator_url

    async def open(self) -> None:
        s = self.settings
        self.pool = await db.create_pool(s)
        self.redis = create_redis(s)
        self.runner = self._script_runner()
        self.sessions = SessionStore(
            self.pool, ttl_s=s.session_ttl_s, cache_ttl_s=s.session_cache_ttl_s, cache_max=s.session_cache_max
        )
        self.limiter = RateLimiter(
            self.runner,
            on_redis_error=s.rate_limit_on_redis_error,
            retry_s=s.rate_limit_redis_retry_s,
            lease=s.rate_limit_lease,
            lease_s=s.rate_limit_lease_s,
        )
        self.http = httpx.AsyncClient(timeout=2.0)
        for name in UPSTREAM_NAMES:
            self.upstreams[name] = UpstreamPool(
                name,
                self.upstream_url(name),
                max_connections=s.upstream_max_connections,
                keepalive_s=s.upstream_keepalive_s,
                connect_timeout_s=s.upstream_connect_timeout_s,
                pool_timeout_s=s.upstream_pool_timeout_s,
                max_header_bytes=s.upstream_max_header_bytes,
            )

    def _script_runner(self) -> ScriptRunner:
        """The limiter's own Redis client, with short timeouts so that a hanging Redis
        delays a request little: the pipelined one, or redis-py for URLs it does not speak
        (unix sockets)."""
        timeout = self.settings.rate_limit_redis_timeout_s
        try:
            return FastRedis(self.settings.redis_url, SCRIPT, timeout_s=timeout)
        except ValueError:
            client = aioredis.Redis.from_url(
                self.settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            return RedisPyRunner(client)

    async def close(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()
        opened = vars(self)
        if "http" in opened:
            await self.http.aclose()
        if isinstance(runner := opened.get("runner"), FastRedis):
            runner.close()
        if "redis" in opened:
            await self.redis.aclose()
        if "pool" in opened:
            await self.pool.close()

    def ready_checks(self) -> dict[str, Check]:
        """What /ready asks: PostgreSQL and Redis answer."""
        return {"postgres": partial(db.ping, self.pool), "redis": self.redis.ping}

    async def authenticate(self, scope: Scope) -> Session | None:
        """The request's live session, or None. A token that is neither malformed nor cached
        costs a query; the ones that find nothing are counted per client address, and an
        address that spent its allowance gets LookupRefused instead of queries."""
        token = token_from_headers(scope["headers"])
        if not token:
            return None
        sessions = self.sessions
        assert sessions is not None and self.limiter is not None
        answered, session = sessions.known(token)
        if answered:
            return session
        s = self.settings
        address = client_address(scope, s.trusted_proxy_hops)
        until = self.blocked.get(address)
        if until is not None:
            if until > time.monotonic():
                raise LookupRefused(Verdict(False, max(1, round(until - time.monotonic()))))
            del self.blocked[address]
        session = await sessions.lookup(token)
        if session is None:
            verdict = await self.limiter.take(
                "rl:miss:" + address,
                s.session_lookup_failures_capacity,
                s.session_lookup_failures_refill_per_s,
            )
            if not verdict.allowed:
                metrics.refused("session_lookup", verdict)
                if not verdict.unavailable:  # spent, not merely unknown (Redis down)
                    self._block(address, verdict.retry_after_s)
                raise LookupRefused(verdict)
        return session

    def _block(self, address: str, seconds: int) -> None:
        blocked = self.blocked
        blocked.pop(address, None)
        while len(blocked) >= _MAX_BLOCKED:
            del blocked[next(iter(blocked))]
        blocked[address] = time.monotonic() + seconds
