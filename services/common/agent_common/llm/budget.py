"""A daily LLM token budget per user (a session is its own anonymous user): every model call
on a user's behalf (chat answers, the worker's summaries, the planner) is charged to it.

A call first reserves what it may cost: its prompt counted at one token per three
characters (most text is nearer four) plus the answer's max_tokens. The reservation is
taken atomically in Redis (one Lua call, shared by every replica and service), and refused
when it does not fit in what is left of the day. Afterwards the provider's own count
replaces the reservation. So concurrent calls cannot pass the budget together; the day's
total can exceed it only by what the calls in flight underestimated their prompts (text
denser than three characters a token), and a refused call costs nothing.

Days are UTC; a refusal is an LLMError of kind "budget" (HTTP 429) whose retry_after_s
runs until the day rolls over. Counters live in Redis keys `llm:tokens:<day>:<user>` for
two days. When Redis cannot be asked, LLM_BUDGET_ON_REDIS_ERROR decides: refuse the call
(closed, 503) or let it through uncounted (open).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from redis.exceptions import RedisError

from agent_common.llm.errors import LLMError
from agent_common.llm.types import LLMRequest, Usage

log = logging.getLogger("agent.llm.budget")

# KEYS[1]: the day's counter; ARGV: budget, tokens wanted, TTL in seconds.
# Returns {1 granted or 0 refused, tokens counted today (after the grant)}.
RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[2])
if used + want > tonumber(ARGV[1]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], want)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, used}
"""
KEY_TTL_S = 2 * 86_400
CHARS_PER_TOKEN = 3
# failures after which the provider generated nothing: their reservation is given back
_NOTHING_SPENT = frozenset({"auth", "rate_limited", "unavailable", "bad_request", "budget"})


def estimate_prompt_tokens(request: LLMRequest) -> int:
    chars = len(request.system)
    for message in request.messages:
        chars += len(message.content)
        for call in message.tool_calls:
            chars += len(call.name) + len(orjson.dumps(call.arguments))
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(orjson.dumps(tool.parameters))
    return math.ceil(chars / CHARS_PER_TOKEN)


def seconds_to_next_day(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


@dataclass
class Charge:
    """Set `usage` once the provider reported it; it then replaces the reservation."""

    reserved: int
    usage: Usage | None = None


class TokenBudget:
    def __init__(
        self, redis: Any, daily_tokens: int, *, on_redis_error: Literal["open", "closed"] = "closed"
    ) -> None:
        self.redis = redis
        self.daily_tokens = daily_tokens  # 0: no budget
        self.on_redis_error = on_redis_error

    @asynccontextmanager
    async def charge(self, user_id: str, request: LLMRequest, max_tokens: int) -> AsyncIterator[Charge]:
        """Reserve before the call (LLMError "budget" when it does not fit), settle after."""
        if self.daily_tokens <= 0 or not user_id:
            yield Charge(0)
            return
        key = f"llm:tokens:{datetime.now(UTC):%Y%m%d}:{user_id}"
        charge = Charge(await self._reserve(key, estimate_prompt_tokens(request) + max_tokens))
        spent = charge.reserved  # kept when the call broke off with its cost unknown
        try:
            yield charge
        except LLMError as exc:
            if exc.kind in _NOTHING_SPENT:
                spent = 0
            raise
        finally:
            if charge.usage is not None:
                spent = charge.usage.prompt_tokens + charge.usage.completion_tokens
            if spent != charge.reserved:
                await self._adjust(key, spent - charge.reserved)

    async def _reserve(self, key: str, tokens: int) -> int:
        try:
            granted, used = await self.redis.eval(RESERVE, 1, key, self.daily_tokens, tokens, KEY_TTL_S)
        except (RedisError, OSError) as exc:
            if self.on_redis_error == "open":
                log.warning("token budget unavailable (%s): call let through", exc.__class__.__name__)
                return 0
            raise LLMError(
                "unavailable",
                "the LLM token budget cannot be checked right now (Redis is unavailable); try again shortly",
                retry_after_s=2,
            ) from None
        if not int(granted):
            raise LLMError(
                "budget",
                f"this session's daily LLM token budget ({self.daily_tokens} tokens) is spent"
                f" ({int(used)} used, this call needs up to {tokens}); it renews at 00:00 UTC",
                retry_after_s=seconds_to_next_day(),
            )
        return tokens

    async def _adjust(self, key: str, delta: int) -> None:
        try:
            await self.redis.incrby(key, delta)
        except (RedisError, OSError) as exc:  # the reservation stands: the safe side
            log.warning("could not settle a token reservation (%s)", exc.__class__.__name__)
