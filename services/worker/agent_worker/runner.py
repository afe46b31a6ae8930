"""The worker: read steps from the stream, run up to WORKER_CONCURRENCY at once, record each
outcome in PostgreSQL, enqueue the steps it made due, then acknowledge.

Delivery is at least once; PostgreSQL's conditional writes make a second delivery of a step
harmless. Messages of a worker that died are claimed again after the visibility timeout;
live workers keep their own messages fresh with a heartbeat, and stop the steps whose task
has ended. The parts, each in its module: reading and claiming (reading), one message from
claim to acknowledgement (handling), the retry policy (retry), dead letters (deadletter),
status mirroring and acknowledgements (outbox), group commit of the records (batches),
stopping steps of ended tasks (halting). This module runs them and the periodic jobs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agent_common import db, queue
from agent_common.streamids import StreamIdRecorder
from agent_worker import memory, metrics
from agent_worker.handling import StepHandler
from agent_worker.outbox import Outbox
from agent_worker.reading import Reader
from agent_worker.reconciler import Reconciler
from agent_worker.settings import WorkerSettings

log = logging.getLogger("agent.worker")
# what a background job may meet and live through: Redis or PostgreSQL away for a while
BACKGROUND_ERRORS: tuple[type[Exception], ...] = (RedisError, *db.UNAVAILABLE)


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        http: httpx.AsyncClient,
        consumer: str,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.consumer = consumer
        self.stopping = asyncio.Event()
        self.stream_ids = StreamIdRecorder(pool)
        self.reader = Reader(settings, pool, redis, consumer, self._handle, self.stopping)
        self.outbox = Outbox(redis, self.stream_ids, status_ttl_s=settings.task_status_ttl_s)
        self.handler = StepHandler(self.reader, self.outbox, http)
        self.reconciler = Reconciler(settings, pool, redis)
        self._handled_at_trim = 0

    async def _handle(self, delivery: queue.Delivery) -> None:
        await self.handler.handle(delivery)

    async def run(self) -> None:
        await self.reader.ensure_group()
        s, reader = self.settings, self.reader
        background = [
            asyncio.create_task(self._every(s.reclaim_interval_s, reader.reclaim)),
            asyncio.create_task(self._every(s.visibility_timeout_s / 3, reader.heartbeat)),
            asyncio.create_task(self._every(s.reconcile_interval_s, self.reconciler.run_once)),
            asyncio.create_task(self.stream_ids.run()),
            asyncio.create_task(self._every(s.idle_trim_interval_s, self._trim_when_idle)),
            asyncio.create_task(self._every(s.queue_metrics_interval_s, self._queue_gauges)),
            asyncio.create_task(self._every(s.halt_check_interval_s, self.handler.halting.check)),
        ]
        try:
            await reader.run()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await reader.leave_group()

    def stop(self) -> None:
        """SIGTERM: stop reading; the steps in hand finish (within shutdown_grace_s)."""
        if not self.stopping.is_set():
            log.info("stopping: finishing %d steps in hand", len(self.reader.inflight))
        self.stopping.set()
        self.reader.wake()

    async def _drain(self) -> None:
        inflight = self.reader.inflight
        if not inflight:
            return
        _, pending = await asyncio.wait(list(inflight.values()), timeout=self.settings.shutdown_grace_s)
        left = [mid for mid, task in inflight.items() if task in pending]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("shutdown grace over: %d steps left to other workers", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
            await self.reader.hand_over(left)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), seconds)
                return
            except TimeoutError:
                pass
            try:
                await job()
            except BACKGROUND_ERRORS as exc:
                metrics.QUEUE_ERRORS.labels("background").inc()
                log.warning("%s failed: %s", getattr(job, "__name__", "job"), exc)
            except Exception:
                log.exception("%s failed", getattr(job, "__name__", "job"))

    async def _trim_when_idle(self) -> None:
        """After a burst of steps, give the memory it used back to the system. Pages of up
        to FETCH_MAX_BYTES and their parse trees leave the heap with free space that glibc
        keeps unless asked; an idle worker then stays small."""
        handled = self.reader.handled
        if self.reader.inflight or self._handled_at_trim == handled:
            return
        self._handled_at_trim = handled
        gc.collect()
        memory.trim()

    async def _queue_gauges(self) -> None:
        s = await queue.stats(self.redis)
        metrics.QUEUE_LENGTH.set(s.length)
        metrics.QUEUE_PENDING.set(s.pending)
        metrics.QUEUE_LAG.set(s.lag)
        metrics.QUEUE_CONSUMERS.set(s.consumers)
        metrics.DEAD_LETTER_LENGTH.set(s.dead)
