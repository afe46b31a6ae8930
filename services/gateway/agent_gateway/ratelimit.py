"""Token buckets in Redis: one per session (and one per client address for creating
sessions), taken and refilled atomically by one Lua script, so every replica shares them.

Shared calls: while one call for a bucket is in flight, other requests on that bucket wait
for it, and the next call asks for as many tokens as there are requests waiting (at most
RATE_LIMIT_LEASE); those it brings are handed to the waiters in memory. A busy session then
costs one Redis round trip per wave of concurrent requests instead of one per request (that
round trip was the gateway's largest cost after the proxying itself), while a request on
its own asks for exactly one token. Tokens are taken from the shared bucket before they are
spent, so a client never gets more than the limit, and only what a waiter that gave up
(its client left) would have spent is held back, for RATE_LIMIT_LEASE_S at most.

When Redis cannot answer, RATE_LIMIT_ON_REDIS_ERROR decides:
- "local" (default): the same bucket, kept in this process's memory. The API stays up (Redis
  is a limit here, not a dependency of chat or tasks), and a client is still held to the
  limit per replica, so at most (replicas x limit) overall while Redis is down.
- "open": let every request through; "closed": refuse with 503.
After a failure the fallback is used for RATE_LIMIT_REDIS_RETRY_S before Redis is asked
again, so a Redis that hangs costs one timeout per interval, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("agent.gateway.ratelimit")

# KEYS[1]: the bucket; ARGV: capacity, refill per second, most tokens wanted (the lease).
# Returns {tokens granted (0 when refused), milliseconds until one token is there}.
# Time comes from the Redis server so that replicas with skewed clocks agree.
SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
local wait_ms = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {granted, wait_ms}
"""


class ScriptRunner(Protocol):
    async def evalsha(self, key: str, *args: float) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0  # whole seconds, at least 1 when refused
    unavailable: bool = False  # refused because Redis is down and the policy is "closed"


ALLOW = Verdict(True)


class LocalBuckets:
    """The same token bucket in memory, for when Redis is away."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, capacity: float, rate: float, cost: float = 1.0) -> Verdict:
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - at) * rate)
        if len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return ALLOW
        self._buckets[key] = (tokens, now)
        return Verdict(False, max(1, math.ceil((cost - tokens) / rate)))


class Leases:
    """Tokens this replica took from shared buckets and has not spent yet, each batch good
    until its deadline."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._held: dict[str, tuple[int, float]] = {}

    def spend(self, key: str, now: float) -> bool:
        held = self._held.get(key)
        if held is None:
            return False
        tokens, until = held
        if until <= now:
            del self._held[key]
            return False
        if tokens > 1:
            self._held[key] = (tokens - 1, until)
        else:
            del self._held[key]
        return True

    def keep(self, key: str, tokens: int, until: float) -> None:
        held = self._held.get(key)
        if held is not None and held[1] > time.monotonic():  # two calls came back: keep both
            self._held[key] = (held[0] + tokens, max(until, held[1]))
            return
        if len(self._held) >= self.max_keys:
            now = time.monotonic()
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
            if len(self._held) >= self.max_keys:
                return  # every lease still live: go without one rather than grow
        self._held[key] = (tokens, until)


class RateLimiter:
    def __init__(
        self,
        runner: ScriptRunner,
        *,
        on_redis_error: Literal["local", "open", "closed"],
        retry_s: float,
        lease: int = 1,
        lease_s: float = 1.0,
    ) -> None:
        self.runner = runner
        self.on_redis_error = on_redis_error
        self.retry_s = retry_s
        self.lease = lease
        self.lease_s = lease_s
        self.local = LocalBuckets()
        self.leases = Leases()
        self._redis_down_until = 0.0
        # one Redis call per bucket at a time: concurrent requests that find no token in
        # memory wait for the call in flight and share what it brings (None: ask again)
        self._refills: dict[str, asyncio.Future[Verdict | None]] = {}
        self._waiting: dict[str, int] = {}

    async def take(self, key: str, capacity: float, rate: float) -> Verdict:
        if self.lease == 1:  # nothing to share: every request asks
            return await self._ask(key, capacity, rate, 1)
        # each call serves its caller and the requests that waited for it; a waiter left
        # without a token waits for the next call (bounded, against starvation)
        for _ in range(64):
            now = time.monotonic()
            if self.leases.spend(key, now):
                return ALLOW
            if self._redis_down_until and now < self._redis_down_until:
                return self._fallback(key, capacity, rate)
            refill = self._refills.get(key)
            if refill is None:
                break
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                shared = await asyncio.shield(refill)
            finally:
                left = self._waiting.pop(key) - 1
                if left:
                    self._waiting[key] = left
            if shared is not None and not shared.allowed:
                return shared  # the bucket is empty for everyone
        return await self._refill(key, capacity, rate)

    async def _refill(self, key: str, capacity: float, rate: float) -> Verdict:
        future: asyncio.Future[Verdict | None] = asyncio.get_running_loop().create_future()
        self._refills.setdefault(key, future)
        verdict = None
        try:
            # one loop turn, so that the requests woken with this one (or arriving with
            # it) count themselves as waiting before the call says how many tokens it wants
            await asyncio.sleep(0)
            want = min(self.lease, 1 + self._waiting.get(key, 0))
            verdict = await self._ask(key, capacity, rate, want)
            return verdict
        finally:
            if self._refills.get(key) is future:
                del self._refills[key]
            future.set_result(verdict)

    async def _ask(self, key: str, capacity: float, rate: float, want: int) -> Verdict:
        try:
            granted, wait_ms = await self.runner.evalsha(key, capacity, rate, want)
        except Exception as exc:  # any failure to get an answer: Redis is unavailable for us
            if not self._redis_down_until:
                log.warning(
                    "rate limit: Redis unavailable (%s), using the %r policy",
                    exc.__class__.__name__,
                    self.on_redis_error,
                )
            self._redis_down_until = time.monotonic() + self.retry_s
            return self._fallback(key, capacity, rate)
        if self._redis_down_until:
            log.info("rate limit: Redis is back")
            self._redis_down_until = 0.0
        if granted:
            if granted > 1:
                self.leases.keep(key, granted - 1, time.monotonic() + self.lease_s)
            return ALLOW
        return Verdict(False, max(1, math.ceil(wait_ms / 1000)))

    def _fallback(self, key: str, capacity: float, rate: float) -> Verdict:
        if self.on_redis_error == "open":
            return ALLOW
        if self.on_redis_error == "closed":
            return Verdict(False, 2, unavailable=True)
        return self.local.take(key, capacity, rate)


class RedisPyRunner:
    """The script through redis-py (EVALSHA, loading it again after a Redis restart)."""

    def __init__(self, redis: object) -> None:
        self.script = redis.register_script(SCRIPT)  # type: ignore[attr-defined]  # any redis-py client; typed object to keep redis-py out of the hot path's imports

    async def evalsha(self, key: str, *args: float) -> list[int]:
        return await self.script(keys=[key], args=list(args))
