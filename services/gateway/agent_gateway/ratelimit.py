"""Token buckets in Redis: one per session (and one per client address for creating
sessions), taken and refilled atomically by one Lua script, so every replica shares them.

When Redis cannot answer, RATE_LIMIT_ON_REDIS_ERROR decides:
- "local" (default): the same bucket, kept in this process's memory. The API stays up (Redis
  is a limit here, not a dependency of chat or tasks), and a client is still held to the
  limit per replica, so at most (replicas x limit) overall while Redis is down.
- "open": let every request through; "closed": refuse with 503.
After a failure the fallback is used for RATE_LIMIT_REDIS_RETRY_S before Redis is asked
again, so a Redis that hangs costs one timeout per interval, not one per request.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("agent.gateway.ratelimit")

# KEYS[1]: the bucket; ARGV: capacity, refill per second, cost.
# Returns {allowed (0/1), milliseconds until `cost` tokens are there}.
# Time comes from the Redis server so that replicas with skewed clocks agree.
SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, wait_ms}
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


class RateLimiter:
    def __init__(self, runner: ScriptRunner, *, on_redis_error: Literal["local", "open", "closed"],
                 retry_s: float) -> None:
        self.runner = runner
        self.on_redis_error = on_redis_error
        self.retry_s = retry_s
        self.local = LocalBuckets()
        self._redis_down_until = 0.0

    async def take(self, key: str, capacity: float, rate: float) -> Verdict:
        if self._redis_down_until and time.monotonic() < self._redis_down_until:
            return self._fallback(key, capacity, rate)
        try:
            allowed, wait_ms = await self.runner.evalsha(key, capacity, rate, 1)
        except Exception as exc:  # any failure to get an answer: Redis is unavailable for us
            if not self._redis_down_until:
                log.warning("rate limit: Redis unavailable (%s), using the %r policy",
                            exc.__class__.__name__, self.on_redis_error)
            self._redis_down_until = time.monotonic() + self.retry_s
            return self._fallback(key, capacity, rate)
        if self._redis_down_until:
            log.info("rate limit: Redis is back")
            self._redis_down_until = 0.0
        if allowed:
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
        self.script = redis.register_script(SCRIPT)  # type: ignore[attr-defined]

    async def evalsha(self, key: str, *args: float) -> list[int]:
        return await self.script(keys=[key], args=list(args))  # type: ignore[no-any-return]
