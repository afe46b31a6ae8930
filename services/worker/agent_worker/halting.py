"""Stopping the steps in hand whose task has ended (cancelled, or failed in another branch):
one read of the tasks' status mirror every HALT_CHECK_INTERVAL_S, only while steps run. A
step told to stop is cancelled with HALT as the message, which tells it from a shutdown."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from agent_common import queue
from agent_worker.reading import Reader

HALT = "the task has ended"
ENDED = frozenset({"cancelled", "failed"})


def halted(exc: asyncio.CancelledError) -> bool:
    return bool(exc.args) and exc.args[0] == HALT


class Halting:
    def __init__(self, redis: aioredis.Redis, reader: Reader) -> None:
        self.redis = redis
        self.reader = reader
        self.in_step: set[str] = set()  # messages whose step function is running now
        self.halting: set[str] = set()  # ... and that were told to stop

    def started(self, message_id: str) -> None:
        self.in_step.add(message_id)

    def finished(self, message_id: str) -> bool:
        """The step function returned: whether it was told to stop as it did."""
        self.in_step.discard(message_id)
        return message_id in self.halting

    def forget(self, message_id: str) -> None:
        self.in_step.discard(message_id)
        self.halting.discard(message_id)

    async def check(self) -> None:
        inflight = self.reader.inflight
        held = {mid: tid for mid, tid in self.reader.task_of.items() if mid in inflight}
        if not held:
            return
        task_ids = sorted(set(held.values()))
        statuses = dict(
            zip(task_ids, await self.redis.mget([queue.status_key(t) for t in task_ids]), strict=True)
        )
        for mid, tid in held.items():
            if statuses.get(tid) in ENDED and mid in self.in_step and mid not in self.halting:
                self.halting.add(mid)
                inflight[mid].cancel(HALT)
