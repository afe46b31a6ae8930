"""One message, from its claim to its acknowledgement: claim the step in PostgreSQL, run it,
record its outcome, then hand Redis what follows (the outbox). A failure is retried (the
retry policy), recorded as final, or (past MAX_DELIVERIES) dead-lettered.

A task's plan is a graph: a step is due when every step it depends on has finished, which
the write recording the last of them decides (agent_worker.store), so independent branches
run at once on whichever workers read them and a join runs once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import httpx
from redis.exceptions import RedisError

from agent_common import db, plans, queue, tracing
from agent_common.logs import user_var
from agent_worker import failures, metrics, results, store
from agent_worker.batches import Records
from agent_worker.deadletter import DeadLetters
from agent_worker.halting import Halting, halted
from agent_worker.outbox import Outbox, messages
from agent_worker.reading import Reader
from agent_worker.retry import RetryPolicy
from agent_worker.steps import StepContext, StepError, StepFn, StepInput, registry

log = logging.getLogger("agent.worker")


class StepHandler:
    def __init__(self, reader: Reader, outbox: Outbox, http: httpx.AsyncClient) -> None:
        """Messages come from `reader` (whose settings, pool and Redis this shares) and what
        follows them goes to `outbox`; `http` is the steps' client."""
        self.reader, self.outbox, self.http = reader, outbox, http
        self.settings, self.pool, self.redis = reader.settings, reader.pool, reader.redis
        self.steps: dict[str, StepFn] = registry()
        self.records = Records(self.pool)
        self.retry = RetryPolicy(self.settings)
        self.dead = DeadLetters(self.pool, self.redis, outbox)
        self.halting = Halting(self.redis, reader)

    async def handle(self, delivery: queue.Delivery) -> None:
        # the step's span continues the trace its message carries (the orchestrator's POST,
        # or the step before); the next step's message carries this span's context
        step = delivery.step
        with tracing.consumer_span(
            "step",
            queue.STREAM,
            step.traceparent if step else "",
            **{
                "messaging.message.id": delivery.message_id,
                "messaging.consumer.group.name": queue.GROUP,
                "messaging.client.id": self.reader.consumer,
                "agent.delivery_count": delivery.deliveries,
            },
        ):
            try:
                await self._handle(delivery)
            finally:
                self.halting.forget(delivery.message_id)

    async def _handle(self, delivery: queue.Delivery) -> None:
        try:
            await self._process(delivery)
        except db.UNAVAILABLE as exc:
            # leave the message pending: it is claimed again once PostgreSQL answers
            metrics.QUEUE_ERRORS.labels("postgres").inc()
            log.warning("PostgreSQL unavailable while handling %s: %s", delivery.message_id, exc)
            self.reader.db_ok.clear()
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
            await self.dead.malformed(delivery)
            return
        tracing.annotate(None, {"agent.task_id": step.task_id, "agent.step.seq": step.seq})
        if delivery.deliveries > self.settings.max_deliveries:
            await self.dead.over_delivered(delivery, task_id, step.seq)
            return
        fresh_copy = delivery.deliveries == 1 and not step.requeued
        claimed = await self.records.claim(store.ClaimRequest(task_id, step.seq, not fresh_copy))
        if claimed is None:
            async with self.pool.acquire() as conn:
                await self._not_claimable(conn, delivery, task_id, step.seq)
            return
        user_var.set(claimed.user_id)  # this task's own asyncio context: its log lines only
        tracing.annotate(
            f"step {claimed.type}",
            {
                "agent.step.type": claimed.type,
                "agent.step.id": claimed.step_id,
                "agent.step.attempt": claimed.attempts,
            },
        )
        if claimed.task_started:
            await self.outbox.mirror(task_id, "processing")
        await self._run(delivery, step, task_id, claimed)

    async def _run(
        self,
        delivery: queue.Delivery,
        step: queue.StepMessage,
        task_id: uuid.UUID,
        claimed: store.ClaimedStep,
    ) -> None:
        fn = self.steps.get(claimed.type)
        ctx = StepContext(
            self.settings, self.http, str(task_id), claimed.step_id, user_id=claimed.user_id, redis=self.redis
        )
        # a replan step only orders the steps after it: it is nobody's input
        inputs = [
            StepInput(i.step_id, i.type, i.output, i.error) for i in claimed.inputs if i.type != "replan"
        ]
        started = time.perf_counter()
        mid = delivery.message_id
        self.halting.started(mid)
        try:
            if fn is None:
                raise StepError(f"unknown step type {claimed.type!r}")
            # a timeout in this task (wait_for would start another task per step)
            async with asyncio.timeout(self.settings.step_timeout_s):
                output = await fn(claimed.params, inputs, ctx)
            if self.halting.finished(mid):  # told to stop as it finished: keep its output
                asyncio.current_task().uncancel()  # type: ignore[union-attr]  # always inside a task here
        except StepError as exc:
            await self._failed(delivery, task_id, step.seq, claimed, exc.message, exc.retryable)
            return
        except TimeoutError:
            await self._failed(
                delivery,
                task_id,
                step.seq,
                claimed,
                f"timed out after {self.settings.step_timeout_s:g}s",
                True,
            )
            return
        except asyncio.CancelledError as exc:
            if not halted(exc):
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # always inside a task here
            await self._stopped(delivery, task_id, step.seq, claimed)
            return
        except Exception as exc:
            log.exception("step %s of %s crashed", claimed.type, task_id)
            await self._failed(
                delivery, task_id, step.seq, claimed, f"internal error ({exc.__class__.__name__})", False
            )
            return
        finally:
            self.halting.finished(mid)
            metrics.STEP_SECONDS.labels(claimed.type).observe(time.perf_counter() - started)
        if ctx.usage:
            output = {**output, "usage": ctx.usage}
        await self._completed(delivery, task_id, step, claimed, output)

    async def _completed(
        self,
        delivery: queue.Delivery,
        task_id: uuid.UUID,
        step: queue.StepMessage,
        claimed: store.ClaimedStep,
        output: dict[str, Any],
    ) -> None:
        output = _without_nul(output)
        if claimed.type == "replan":  # rare: its own transaction, which also adds its steps
            added = plans.from_dicts(output.get("added") or [])
            outcome = await store.complete_replan(self.pool, task_id, step.seq, output, added)
        else:
            result = results.render(claimed.type, output) if claimed.final else None
            outcome = await self.records.complete(store.Completion(task_id, step.seq, output, result))
        metrics.STEPS.labels(claimed.type, "completed" if outcome.recorded else "duplicate").inc()
        trace = tracing.traceparent() or step.traceparent  # this step's span, when tracing
        nxt = messages(task_id, outcome.ready, trace)
        await self.outbox.advance(delivery.message_id, task_id, nxt, outcome.task_status)
        if outcome.task_status == "completed" and self.settings.llm_provider != "offline":
            # offline tasks spend no tokens: no query for them
            metrics.TASK_TOKENS.observe(await store.task_tokens(self.pool, task_id))

    async def _stopped(
        self, delivery: queue.Delivery, task_id: uuid.UUID, seq: int, claimed: store.ClaimedStep
    ) -> None:
        """The task ended while this step ran (cancelled, or failed elsewhere): record the
        step as stopped and drop its message."""
        tracing.fail_current("stopped", "the task ended while the step ran")
        await failures.stop(self.pool, task_id, seq)
        metrics.STEPS.labels(claimed.type, "stopped").inc()
        log.info("step %s of %s stopped: its task has ended", claimed.step_id, task_id)
        await self.outbox.advance(delivery.message_id, task_id, (), None)

    async def _failed(
        self,
        delivery: queue.Delivery,
        task_id: uuid.UUID,
        seq: int,
        claimed: store.ClaimedStep,
        message: str,
        retryable: bool,
    ) -> None:
        retry = self.retry.retries(retryable, claimed.attempts)
        tracing.fail_current("retry" if retry else "step_failed", message)
        async with self.pool.acquire() as conn:
            if retry:
                await failures.release_for_retry(conn, task_id, seq, message)
            else:
                failure = await failures.fail(conn, task_id, seq, claimed.type, message)
        if retry:
            # not acknowledged: any worker's reclaim pass takes it again after the backoff
            self.reader.release(delivery.message_id)
            delay = await self.retry.schedule(
                self.redis, self.reader.consumer, delivery.message_id, claimed.attempts
            )
            metrics.STEPS.labels(claimed.type, "retry").inc()
            log.info("step %s of %s will be retried in %.1fs: %s", claimed.type, task_id, delay, message)
            return
        metrics.STEPS.labels(claimed.type, "failed").inc()
        trace = tracing.traceparent() or (delivery.step.traceparent if delivery.step else "")
        await self.outbox.advance(
            delivery.message_id,
            task_id,
            messages(task_id, failure.ready, trace),
            "failed" if failure.task_failed else None,
        )

    async def _not_claimable(
        self, conn: db.Conn, delivery: queue.Delivery, task_id: uuid.UUID, seq: int
    ) -> None:
        """Done, cancelled, unknown, a duplicate, or waiting for a dependency: acknowledge. A
        waiting step is enqueued again by the completion of its last dependency. If the step
        is done but the steps it made due never reached the stream (a crash in between),
        enqueue them."""
        state = await store.why_not_claimable(conn, task_id, seq)
        nxt: tuple[queue.StepMessage, ...] = ()
        if state == ("processing", "completed"):
            trace = delivery.step.traceparent if delivery.step else ""
            nxt = messages(task_id, await store.ready_after(conn, task_id, seq), trace)
        await self.outbox.advance(delivery.message_id, task_id, nxt, None)


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
