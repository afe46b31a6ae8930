"""The retry policy: which failed steps run again, and when.

A step that failed with a transient error (a timeout, a 5xx, a reset) runs again up to
STEP_MAX_ATTEMPTS times in all. Its message stays pending, so a worker that dies in between
loses nothing; only its idle time is set so that the reclaim pass of any worker takes it
after the backoff: STEP_RETRY_BACKOFF_S, doubled for each attempt made, at most
STEP_RETRY_BACKOFF_MAX_S and never beyond the visibility timeout. The reclaim pass runs
every RECLAIM_INTERVAL_S, which rounds each wait up to that."""

from __future__ import annotations

import redis.asyncio as aioredis

from agent_common import queue
from agent_worker.settings import WorkerSettings


class RetryPolicy:
    def __init__(self, settings: WorkerSettings) -> None:
        self.max_attempts = settings.step_max_attempts
        self.backoff_s = settings.step_retry_backoff_s
        self.backoff_max_s = settings.step_retry_backoff_max_s
        self.visibility_s = settings.visibility_timeout_s

    def retries(self, retryable: bool, attempts: int) -> bool:
        """Whether a step that failed at its `attempts`-th run runs again."""
        return retryable and attempts < self.max_attempts

    def delay_s(self, attempts: int) -> float:
        """How long the step waits after its `attempts`-th run failed."""
        delay = self.backoff_s * 2 ** max(0, attempts - 1)
        return min(delay, self.backoff_max_s, self.visibility_s)

    async def schedule(self, redis: aioredis.Redis, consumer: str, message_id: str, attempts: int) -> float:
        """Leave the message pending, due for reclaiming once the delay is over; the delay."""
        delay = self.delay_s(attempts)
        idle_ms = max(0, int((self.visibility_s - delay) * 1000))
        # JUSTID: the delivery count stays as it is (the redelivery counts it)
        await redis.xclaim(queue.STREAM, queue.GROUP, consumer, 0, [message_id], idle=idle_ms, justid=True)
        return delay
