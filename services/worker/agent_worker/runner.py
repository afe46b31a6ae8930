"""The worker loop: read steps from the stream, run up to WORKER_CONCURRENCY at once,
record each outcome in PostgreSQL, enqueue the steps it made due, then acknowledge.

A task's plan is a graph: a step is due when every step it depends on has finished, which
the write recording the last of them decides (agent_worker.store), so independent branches
run at once on whichever workers read them and a join runs once. Delivery is at least once;
PostgreSQL's conditional writes make a second delivery of a step harmless. Messages of a
worker that died are claimed again after the visibility timeout; live workers keep their
own messages fresh with a heartbeat, and stop the steps whose task has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from agent_common import db, plans, queue, tracing
from agent_common.batching import Batcher
from agent_common.logs import user_var
from agent_common.streamids import StreamIdRecorder
from agent_worker import memory, metrics, results, store
from agent_worker.reconciler import Reconciler
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, StepFn, StepInput, registry

log = logging.getLogger("agent.worker")

class Worker:
    def __init__(self, settings: WorkerSettings, pool: asyncpg.Pool, redis: aioredis.Redis,
                 http: httpx.AsyncClient, consumer: str) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.http = http
        self.consumer = consumer
        self.steps: dict[str, StepFn] = registry()
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self._task_of: dict[str, str] = {}  # message id -> task id, of the steps in hand
        self._in_step: set[str] = set()     # messages whose step function is running now
        self._halting: set[str] = set()     # ... and that were told to stop
        self.stopping = asyncio.Event()
        self._room = asyncio.Event()
        self._db_ok = asyncio.Event()
        self._db_ok.set()
        self.stream_ids = StreamIdRecorder(pool)
        self._handled = self._handled_at_trim = 0  # messages handled, and as of the last trim
        self.reconciler = Reconciler(settings, pool, redis)
        # group commit: the steps in flight share their claims, records and acknowledgements
        # (one statement or pipeline per batch instead of per step)
        self._claims: Batcher[store.ClaimRequest, store.ClaimedStep | None] = Batcher(
            lambda requests: store.claim(self.pool, requests))
        self._records: Batcher[store.Completion, store.Outcome] = Batcher(
            lambda done: store.complete(self.pool, done))
        self._redis_ops: Batcher[RedisOp, None] = Batcher(self._write_redis_ops)

    # ---- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        await self._ensure_group()
        background = [
            asyncio.create_task(self._every(self.settings.reclaim_interval_s, self._reclaim)),
            asyncio.create_task(self._every(self.settings.visibility_timeout_s / 3, self._heartbeat)),
            asyncio.create_task(self._every(self.settings.reconcile_interval_s, self.reconciler.run_once)),
            asyncio.create_task(self.stream_ids.run()),
            asyncio.create_task(self._every(self.settings.idle_trim_interval_s, self._trim_when_idle)),
            asyncio.create_task(self._every(self.settings.queue_metrics_interval_s, self._queue_gauges)),
            asyncio.create_task(self._every(self.settings.halt_check_interval_s, self._halt_ended_tasks)),
        ]
        try:
            await self._read_loop()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._leave_group()

    def stop(self) -> None:
        """SIGTERM: stop reading; the steps in hand finish (within shutdown_grace_s)."""
        if not self.stopping.is_set():
            log.info("stopping: finishing %d steps in hand", len(self.inflight))
        self.stopping.set()
        self._room.set()

    async def _drain(self) -> None:
        if not self.inflight:
            return
        _, pending = await asyncio.wait(list(self.inflight.values()), timeout=self.settings.shutdown_grace_s)
        left = [mid for mid, task in self.inflight.items() if task in pending]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("shutdown grace over: %d steps left to other workers", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
            await self._hand_over(left)

    async def _hand_over(self, message_ids: list[str]) -> None:
        """Mark unfinished messages as long idle, so another worker claims them at its next
        look instead of after a whole visibility timeout."""
        idle_ms = int(self.settings.visibility_timeout_s * 1000) + 1
        with contextlib.suppress(RedisError):
            await self.redis.xclaim(queue.STREAM, queue.GROUP, self.consumer, 0, message_ids,
                                    idle=idle_ms, justid=True)

    async def _leave_group(self) -> None:
        """Remove this consumer from the group when it holds nothing, so the group's list
        of consumers stays the list of live workers."""
        try:
            await queue.unregister_consumer(self.redis, self.consumer)
        except RedisError as exc:
            log.info("could not leave the consumer group: %s", exc)

    async def _every(self, seconds: float, job: Any) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), seconds)
                return
            except TimeoutError:
                pass
            try:
                await job()
            except (RedisError, *db.UNAVAILABLE) as exc:
                metrics.QUEUE_ERRORS.labels("background").inc()
                log.warning("%s failed: %s", getattr(job, "__name__", "job"), exc)
            except Exception:
                log.exception("%s failed", getattr(job, "__name__", "job"))

    async def _ensure_group(self) -> None:
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

    # ---- reading -----------------------------------------------------------------------

    def _free(self) -> int:
        return self.settings.worker_concurrency - len(self.inflight)

    async def _read_loop(self) -> None:
        delay = 0.1
        while not self.stopping.is_set():
            if self._free() <= 0 or not self._db_ok.is_set():
                self._room.clear()
                await self._wait_for_room()
                continue
            try:
                deliveries = await queue.read(
                    self.redis, self.consumer,
                    count=min(self._free(), self.settings.queue_read_count),
                    block_ms=self.settings.queue_block_ms,
                )
            except ResponseError as exc:
                # Redis lost its data: the group is gone (NOGROUP), or the stream vanished under
                # our blocking read (UNBLOCKED). Recreate it; the reconciler refills the stream.
                if str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    log.warning("consumer group missing (%s); recreating it", exc)
                    await self._ensure_group()
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
                self._spawn(delivery)

    async def _wait_for_room(self) -> None:
        if not self._db_ok.is_set():
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
            self._db_ok.set()
        except db.UNAVAILABLE:
            await asyncio.sleep(1.0)

    def _spawn(self, delivery: queue.Delivery) -> None:
        if delivery.message_id in self.inflight:
            return
        task = asyncio.create_task(self._handle(delivery))
        self.inflight[delivery.message_id] = task
        if delivery.step:
            self._task_of[delivery.message_id] = delivery.step.task_id
        metrics.IN_FLIGHT.inc()

        def done(_: asyncio.Task[None]) -> None:
            self._handled += 1
            self.inflight.pop(delivery.message_id, None)
            self._task_of.pop(delivery.message_id, None)
            self._halting.discard(delivery.message_id)
            metrics.IN_FLIGHT.dec()
            self._room.set()

        task.add_done_callback(done)

    async def _reclaim(self) -> None:
        free = self._free()
        if free <= 0 or not self._db_ok.is_set():
            return
        deliveries = await queue.reclaim(
            self.redis, self.consumer,
            min_idle_ms=int(self.settings.visibility_timeout_s * 1000), count=free,
        )
        for delivery in deliveries:
            metrics.RECLAIMED.inc()
            self._spawn(delivery)

    async def _heartbeat(self) -> None:
        """Reset the idle time of the messages in hand so nobody reclaims a live step."""
        ids = list(self.inflight)
        if ids:
            await self.redis.xclaim(queue.STREAM, queue.GROUP, self.consumer, 0, ids, justid=True)

    async def _halt_ended_tasks(self) -> None:
        """Stop the steps in hand whose task was cancelled, or failed in another branch: one
        read of the tasks' status mirror, only while steps run."""
        held = {mid: tid for mid, tid in self._task_of.items() if mid in self.inflight}
        if not held:
            return
        task_ids = sorted(set(held.values()))
        statuses = dict(zip(task_ids, await self.redis.mget([queue.status_key(t) for t in task_ids]),
                            strict=True))
        for mid, tid in held.items():
            if statuses.get(tid) in ENDED and mid in self._in_step and mid not in self._halting:
                self._halting.add(mid)
                self.inflight[mid].cancel(HALT)

    async def _trim_when_idle(self) -> None:
        """After a burst of steps, give the memory it used back to the system. Pages of up
        to FETCH_MAX_BYTES and their parse trees leave the heap with free space that glibc
        keeps unless asked; an idle worker then stays small."""
        if self.inflight or self._handled_at_trim == self._handled:
            return
        self._handled_at_trim = self._handled
        gc.collect()
        memory.trim()

    async def _queue_gauges(self) -> None:
        s = await queue.stats(self.redis)
        metrics.QUEUE_LENGTH.set(s.length)
        metrics.QUEUE_PENDING.set(s.pending)
        metrics.QUEUE_LAG.set(s.lag)
        metrics.QUEUE_CONSUMERS.set(s.consumers)
        metrics.DEAD_LETTER_LENGTH.set(s.dead)

    # ---- one message -------------------------------------------------------------------

    async def _handle(self, delivery: queue.Delivery) -> None:
        # the step's span continues the trace its message carries (the orchestrator's POST,
        # or the step before); the next step's message carries this span's context
        step = delivery.step
        with tracing.consumer_span("step", queue.STREAM, step.traceparent if step else "", **{
                "messaging.message.id": delivery.message_id, "messaging.consumer.group.name": queue.GROUP,
                "messaging.client.id": self.consumer, "agent.delivery_count": delivery.deliveries}):
            await self._handle_in_span(delivery)

    async def _handle_in_span(self, delivery: queue.Delivery) -> None:
        try:
            await self._process(delivery)
        except db.UNAVAILABLE as exc:
            # leave the message pending: it is claimed again once PostgreSQL answers
            metrics.QUEUE_ERRORS.labels("postgres").inc()
            log.warning("PostgreSQL unavailable while handling %s: %s", delivery.message_id, exc)
            self._db_ok.clear()
        except RedisError as exc:
            metrics.QUEUE_ERRORS.labels("redis").inc()
            log.warning("Redis unavailable while handling %s: %s", delivery.message_id, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error handling %s; left for redelivery", delivery.message_id)

    async def _process(self, delivery: queue.Delivery) -> None:
        step = delivery.step
        task_id = _uuid(step.task_id) if step else None
        if step is None or task_id is None:
            tracing.fail_current("dead_letter", "malformed message")
            await queue.dead_letter(self.redis, delivery, "malformed message")
            metrics.DEAD_LETTERS.inc()
            return
        tracing.annotate(None, {"agent.task_id": step.task_id, "agent.step.seq": step.seq})
        if delivery.deliveries > self.settings.max_deliveries:
            await self._dead_letter(delivery, task_id, step.seq)
            return
        fresh_copy = delivery.deliveries == 1 and not step.requeued
        claimed = await self._claims.submit(store.ClaimRequest(task_id, step.seq, not fresh_copy))
        if claimed is None:
            async with self.pool.acquire() as conn:
                await self._not_claimable(conn, delivery, task_id, step.seq)
            return
        user_var.set(claimed.user_id)  # this task's own asyncio context: its log lines only
        tracing.annotate(f"step {claimed.type}", {"agent.step.type": claimed.type,
                                                  "agent.step.id": claimed.step_id,
                                                  "agent.step.attempt": claimed.attempts})
        if claimed.task_started:
            await self._mirror(task_id, "processing")
        await self._run(delivery, step, task_id, claimed)

    async def _run(self, delivery: queue.Delivery, step: queue.StepMessage, task_id: uuid.UUID,
                   claimed: store.ClaimedStep) -> None:
        fn = self.steps.get(claimed.type)
        ctx = StepContext(self.settings, self.http, str(task_id), claimed.step_id,
                          user_id=claimed.user_id, redis=self.redis)
        # a replan step only orders the steps after it: it is nobody's input
        inputs = [StepInput(i.step_id, i.type, i.output, i.error)
                  for i in claimed.inputs if i.type != "replan"]
        started = time.perf_counter()
        self._in_step.add(delivery.message_id)
        try:
            if fn is None:
                raise StepError(f"unknown step type {claimed.type!r}")
            # a timeout in this task (wait_for would start another task per step)
            async with asyncio.timeout(self.settings.step_timeout_s):
                output = await fn(claimed.params, inputs, ctx)
            self._in_step.discard(delivery.message_id)
            if delivery.message_id in self._halting:  # told to stop as it finished: keep its output
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
        except StepError as exc:
            await self._failed(delivery, task_id, step.seq, claimed, exc.message, exc.retryable)
            return
        except TimeoutError:
            await self._failed(delivery, task_id, step.seq, claimed,
                               f"timed out after {self.settings.step_timeout_s:g}s", True)
            return
        except asyncio.CancelledError as exc:
            if not _halted(exc):
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            await self._stopped(delivery, task_id, step.seq, claimed)
            return
        except Exception as exc:
            log.exception("step %s of %s crashed", claimed.type, task_id)
            await self._failed(delivery, task_id, step.seq, claimed,
                               f"internal error ({exc.__class__.__name__})", False)
            return
        finally:
            self._in_step.discard(delivery.message_id)
            metrics.STEP_SECONDS.labels(claimed.type).observe(time.perf_counter() - started)
        if ctx.usage:
            output = {**output, "usage": ctx.usage}
        await self._completed(delivery, task_id, step, claimed, output)

    async def _completed(self, delivery: queue.Delivery, task_id: uuid.UUID, step: queue.StepMessage,
                         claimed: store.ClaimedStep, output: dict[str, Any]) -> None:
        output = _without_nul(output)
        if claimed.type == "replan":  # rare: its own transaction, which also adds its steps
            added = plans.from_dicts(output.get("added") or [])
            outcome = await store.complete_replan(self.pool, task_id, step.seq, output, added)
        else:
            result = results.render(claimed.type, output) if claimed.final else None
            outcome = await self._records.submit(store.Completion(task_id, step.seq, output, result))
        metrics.STEPS.labels(claimed.type, "completed" if outcome.recorded else "duplicate").inc()
        trace = tracing.traceparent() or step.traceparent  # this step's span, when tracing
        nxt = self._messages(task_id, outcome.ready, trace)
        await self._advance(delivery, task_id, nxt, outcome.task_status)
        if outcome.task_status == "completed":
            await self._count_tokens(task_id)

    async def _stopped(self, delivery: queue.Delivery, task_id: uuid.UUID, seq: int,
                       claimed: store.ClaimedStep) -> None:
        """The task ended while this step ran (cancelled, or failed elsewhere): record the
        step as stopped and drop its message."""
        tracing.fail_current("stopped", "the task ended while the step ran")
        await store.stop(self.pool, task_id, seq)
        metrics.STEPS.labels(claimed.type, "stopped").inc()
        log.info("step %s of %s stopped: its task has ended", claimed.step_id, task_id)
        await self._advance(delivery, task_id, (), None)

    async def _count_tokens(self, task_id: uuid.UUID) -> None:
        if self.settings.llm_provider != "offline":  # offline tasks spend none: no query for them
            metrics.TASK_TOKENS.observe(await store.task_tokens(self.pool, task_id))

    @staticmethod
    def _messages(task_id: uuid.UUID, seqs: tuple[int, ...] | list[int],
                  trace: str) -> tuple[queue.StepMessage, ...]:
        return tuple(queue.StepMessage(str(task_id), seq, trace) for seq in seqs)

    async def _failed(self, delivery: queue.Delivery, task_id: uuid.UUID, seq: int,
                      claimed: store.ClaimedStep, message: str, retryable: bool) -> None:
        tracing.fail_current("retry" if retryable and claimed.attempts < self.settings.step_max_attempts
                             else "step_failed", message)
        async with self.pool.acquire() as conn:
            if retryable and claimed.attempts < self.settings.step_max_attempts:
                # not acknowledged: the stream delivers it again after the visibility timeout
                await store.release_for_retry(conn, task_id, seq, message)
                metrics.STEPS.labels(claimed.type, "retry").inc()
                log.info("step %s of %s will be retried: %s", claimed.type, task_id, message)
                self._release(delivery.message_id)
                return
            failure = await store.fail(conn, task_id, seq, claimed.type, message)
        metrics.STEPS.labels(claimed.type, "failed").inc()
        trace = tracing.traceparent() or (delivery.step.traceparent if delivery.step else "")
        await self._advance(delivery, task_id, self._messages(task_id, failure.ready, trace),
                            "failed" if failure.task_failed else None)

    def _release(self, message_id: str) -> None:
        """Stop heartbeating a message we leave pending on purpose."""
        self.inflight.pop(message_id, None)

    async def _advance(self, delivery: queue.Delivery, task_id: uuid.UUID,
                       nxt: tuple[queue.StepMessage, ...], status: str | None) -> None:
        """Enqueue the steps made due, mirror the status, acknowledge (batched with other steps)."""
        await self._redis_ops.submit(RedisOp(task_id, delivery.message_id, nxt, status))

    async def _write_redis_ops(self, ops: list[RedisOp]) -> list[None]:
        """One pipeline for a batch: each XADD and SET, then one XACK and one XDEL for all."""
        pipe = self.redis.pipeline(transaction=False)
        xadds: list[tuple[int, queue.StepMessage]] = []  # (pipeline index, message)
        for op in ops:
            for message in op.nxt:
                xadds.append((len(pipe), message))
                queue.pipe_xadd(pipe, message)
            if op.status:
                queue.pipe_status(pipe, str(op.task_id), op.status, self.settings.task_status_ttl_s)
        acked = [op.message_id for op in ops if op.message_id]
        if acked:
            pipe.xack(queue.STREAM, queue.GROUP, *acked)
            pipe.xdel(queue.STREAM, *acked)
        # run every command even if one fails (e.g. XACK after Redis lost the group), so an
        # enqueued successor is still recorded
        replies = await pipe.execute(raise_on_error=False)
        for at, message in xadds:
            if isinstance(replies[at], str):
                self.stream_ids.add(uuid.UUID(message.task_id), message.seq, replies[at])
        errors = [r for r in replies if isinstance(r, Exception)]
        if errors:
            raise errors[0]
        return [None] * len(ops)

    async def _not_claimable(self, conn: asyncpg.Connection, delivery: queue.Delivery,
                             task_id: uuid.UUID, seq: int) -> None:
        """Done, cancelled, unknown, a duplicate, or waiting for a dependency: acknowledge. A
        waiting step is enqueued again by the completion of its last dependency. If the step
        is done but the steps it made due never reached the stream (a crash in between),
        enqueue them."""
        state = await store.why_not_claimable(conn, task_id, seq)
        nxt: tuple[queue.StepMessage, ...] = ()
        if state == ("processing", "completed"):
            trace = delivery.step.traceparent if delivery.step else ""
            nxt = self._messages(task_id, await store.ready_after(conn, task_id, seq), trace)
        await self._advance(delivery, task_id, nxt, None)

    async def _dead_letter(self, delivery: queue.Delivery, task_id: uuid.UUID, seq: int) -> None:
        reason = f"delivered {delivery.deliveries - 1} times without finishing"
        tracing.fail_current("dead_letter", reason)
        failure = await store.fail_dead_lettered(self.pool, task_id, seq, delivery.deliveries - 1)
        await queue.dead_letter(self.redis, delivery, reason)
        metrics.DEAD_LETTERS.inc()
        log.warning("step %s of task %s moved to %s: %s", seq, task_id, queue.DEAD_STREAM, reason)
        trace = delivery.step.traceparent if delivery.step else ""
        nxt = self._messages(task_id, failure.ready, trace)
        if failure.task_failed or nxt:
            status = "failed" if failure.task_failed else None
            await self._redis_ops.submit(RedisOp(task_id, None, nxt, status))

    async def _mirror(self, task_id: uuid.UUID, status: str) -> None:
        await self._redis_ops.submit(RedisOp(task_id, None, (), status))


@dataclass(frozen=True, slots=True)
class RedisOp:
    """What one step asks of Redis when it moves on."""

    task_id: uuid.UUID
    message_id: str | None                # acknowledge and delete this message
    nxt: tuple[queue.StepMessage, ...]    # enqueue these steps
    status: str | None                    # mirror the task's status


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb cannot hold NUL characters; a page's text sometimes does."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# a step's task ended while it ran: the task (cancel() message) that stops it
HALT = "the task has ended"
ENDED = frozenset({"cancelled", "failed"})


def _halted(exc: asyncio.CancelledError) -> bool:
    return bool(exc.args) and exc.args[0] == HALT
