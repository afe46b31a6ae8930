"""Dead letters: a message that cannot be read, or that was delivered more than
MAX_DELIVERIES times without finishing (its step kept crashing or timing out its worker),
moves to the stream `task_queue:dead`; the step fails and so does its task, unless the step
was optional."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import redis.asyncio as aioredis

from agent_common import queue, tracing
from agent_worker import failures, metrics
from agent_worker.outbox import Outbox, messages

log = logging.getLogger("agent.worker")


class DeadLetters:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, outbox: Outbox) -> None:
        self.pool = pool
        self.redis = redis
        self.outbox = outbox

    async def malformed(self, delivery: queue.Delivery) -> None:
        tracing.fail_current("dead_letter", "malformed message")
        await queue.dead_letter(self.redis, delivery, "malformed message")
        metrics.DEAD_LETTERS.inc()

    async def over_delivered(self, delivery: queue.Delivery, task_id: uuid.UUID, seq: int) -> None:
        reason = f"delivered {delivery.deliveries - 1} times without finishing"
        tracing.fail_current("dead_letter", reason)
        failure = await failures.fail_dead_lettered(self.pool, task_id, seq, delivery.deliveries - 1)
        await queue.dead_letter(self.redis, delivery, reason)
        metrics.DEAD_LETTERS.inc()
        log.warning("step %s of task %s moved to %s: %s", seq, task_id, queue.DEAD_STREAM, reason)
        trace = delivery.step.traceparent if delivery.step else ""
        nxt = messages(task_id, failure.ready, trace)
        if failure.task_failed or nxt:
            await self.outbox.advance(None, task_id, nxt, "failed" if failure.task_failed else None)
