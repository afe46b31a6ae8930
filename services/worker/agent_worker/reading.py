"""Reading and claiming messages: new ones with XREADGROUP while there is room (at most
WORKER_CONCURRENCY steps in hand), those of a dead worker once idle for the visibility
timeout, and a heartbeat that keeps this worker's own from looking idle. While PostgreSQL
is down nothing more is read: the messages would only wait in hand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from redis.typing import StreamIdT

from agent_common import db, queue
from agent_worker import metrics
from agent_worker.settings import WorkerSettings

log = logging.getLogger("agent.worker")

Handle = Callable[[queue.Delivery], Coroutine[Any, Any, None]]


class Reader:
    def __init__(
        self,
        settings: WorkerSettings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        consumer: str,
        handle: Handle,
        stopping: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.consumer = consumer
        self.handle = handle
        self.stopping = stopping
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.task_of: dict[str, str] = {}  # message id -> task id, of the steps in hand
        self.handled = 0  # messages handled since the start
        self.db_ok = asyncio.Event()
        self.db_ok.set()
        self._room = asyncio.Event()

    def free(self) -> int:
        return self.settings.worker_concurrency - len(self.inflight)

    def wake(self) -> None:
        self._room.set()

    def release(self, message_id: str) -> None:
        """Stop heartbeating a message left pending on purpose (a retry waits out its backoff)."""
        self.inflight.pop(message_id, None)

    async def ensure_group(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            try:
                await queue.ensure_group(self.redis)
                await queue.register_consumer(self.redis, self.consumer)
                return
            except RedisError as exc:
                log.warning("Redis not reachable (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def run(self) -> None:
        """Read until stopped."""
        delay = 0.1
        while not self.stopping.is_set():
            if self.free() <= 0 or not self.db_ok.is_set():
                self._room.clear()
                await self._wait_for_room()
                continue
            try:
                deliveries = await queue.read(
                    self.redis,
                    self.consumer,
                    count=min(self.free(), self.settings.queue_read_count),
                    block_ms=self.settings.queue_block_ms,
                )
            except ResponseError as exc:
                # Redis lost its data: the group is gone (NOGROUP), or the stream vanished under
                # our blocking read (UNBLOCKED). Recreate it; the reconciler refills the stream.
                if str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    log.warning("consumer group missing (%s); recreating it", exc)
                    await self.ensure_group()
                    continue
                raise
            except RedisError as exc:
                metrics.QUEUE_ERRORS.labels("redis").inc()
                log.warning("reading the stream failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            for delivery in deliveries:
                self.spawn(delivery)

    async def _wait_for_room(self) -> None:
        if not self.db_ok.is_set():
            await self._probe_db()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), 1.0)

    async def _probe_db(self) -> None:
        """PostgreSQL was down: read no more until it answers again."""
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            log.info("PostgreSQL is back; reading again")
            self.db_ok.set()
        except db.UNAVAILABLE:
            await asyncio.sleep(1.0)

    def spawn(self, delivery: queue.Delivery) -> None:
        if delivery.message_id in self.inflight:
            return
        task = asyncio.create_task(self.handle(delivery))
        self.inflight[delivery.message_id] = task
        if delivery.step:
            self.task_of[delivery.message_id] = delivery.step.task_id
        metrics.IN_FLIGHT.inc()

        def done(_: asyncio.Task[None]) -> None:
            self.handled += 1
            self.inflight.pop(delivery.message_id, None)
            self.task_of.pop(delivery.message_id, None)
            metrics.IN_FLIGHT.dec()
            self._room.set()

        task.add_done_callback(done)

    async def reclaim(self) -> None:
        """Take over the messages idle for the visibility timeout (a dead worker's, or a
        retry whose backoff is over)."""
        free = self.free()
        if free <= 0 or not self.db_ok.is_set():
            return
        deliveries = await queue.reclaim(
            self.redis,
            self.consumer,
            min_idle_ms=int(self.settings.visibility_timeout_s * 1000),
            count=free,
        )
        for delivery in deliveries:
            metrics.RECLAIMED.inc()
            self.spawn(delivery)

    async def heartbeat(self) -> None:
        """Reset the idle time of the messages in hand so nobody reclaims a live step."""
        ids: list[StreamIdT] = list(self.inflight)
        if ids:
            await self.redis.xclaim(queue.STREAM, queue.GROUP, self.consumer, 0, ids, justid=True)

    async def hand_over(self, message_ids: list[str]) -> None:
        """Mark unfinished messages as long idle, so another worker claims them at its next
        look instead of after a whole visibility timeout."""
        idle_ms = int(self.settings.visibility_timeout_s * 1000) + 1
        with contextlib.suppress(RedisError):
            ids: list[StreamIdT] = list(message_ids)
            await self.redis.xclaim(
                queue.STREAM, queue.GROUP, self.consumer, 0, ids, idle=idle_ms, justid=True
            )

    async def leave_group(self) -> None:
        """Remove this consumer from the group when it holds nothing, so the group's list
        of consumers stays the list of live workers."""
        try:
            await queue.unregister_consumer(self.redis, self.consumer)
        except RedisError as exc:
            log.info("could not leave the consumer group: %s", exc)
