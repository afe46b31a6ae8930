"""Taking tasks in: plan each task, store it with all its steps, then enqueue the steps that
depend on nothing (the first step of each branch).

Concurrent submissions share their round trips (group commit): one INSERT statement and
one Redis pipeline per batch. The commit stays synchronous, since a 202 promises the task
is stored; a batch simply shares one WAL flush among its tasks."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agent_common import db, queue, tracing
from agent_common.batching import Batcher
from agent_common.plans import PlanStep, as_graph
from agent_common.streamids import StreamIdRecorder
from agent_orchestrator import store
from agent_orchestrator.planning import Planner

log = logging.getLogger("agent.orchestrator")


class Intake:
    def __init__(
        self, pool: asyncpg.Pool, redis: aioredis.Redis, *, status_ttl_s: int, planner: Planner | None = None
    ) -> None:
        self.pool = pool
        self.planner = planner or Planner()
        self.redis = redis
        self.status_ttl_s = status_ttl_s
        self.stream_ids = StreamIdRecorder(pool)
        self._writes: Batcher[store.NewTask, None] = Batcher(
            lambda tasks: store.create_tasks(pool, tasks), isolate=_bad_data
        )
        self._enqueues: Batcher[queue.StepMessage, str | None] = Batcher(self._enqueue_batch)
        self._recorder: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._recorder = asyncio.get_running_loop().create_task(self.stream_ids.run())

    async def stop(self) -> None:
        if self._recorder:
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)

    async def submit(
        self, user_id: str, title: str, description: str, steps: list[PlanStep] | None = None
    ) -> uuid.UUID:
        """Plan the task (unless its steps are given), store it with its steps, then enqueue
        the steps that depend on nothing. If Redis is down the task is still stored and
        accepted: the reconciler enqueues it later."""
        task_id = uuid.uuid4()
        if steps:
            await self._store(store.NewTask(task_id, user_id, title, description, as_graph(steps)))
            return task_id
        # Prompt -> LLM -> Response (the planner's spans), then Action: store and enqueue
        with tracing.span("plan", attributes={"agent.task_id": str(task_id)}):
            planned = await self.planner.plan(description)
            with tracing.span(
                "plan action",
                attributes={"agent.plan.source": planned.info.source, "agent.plan.steps": len(planned.steps)},
            ):
                await self._store(
                    store.NewTask(task_id, user_id, title, description, planned.steps, planned.info)
                )
        return task_id

    async def _store(self, task: store.NewTask) -> None:
        task_id = task.task_id
        await self._writes.submit(task)
        # the messages carry this span's context: the worker's step spans join the trace
        with tracing.producer_span(queue.STREAM, **{"agent.task_id": str(task_id)}):
            trace = tracing.traceparent()
            if len(task.steps) == 1:  # the common case, without a list and a task per message
                stream_id = await self._enqueues.submit(queue.StepMessage(str(task_id), 0, trace))
                if stream_id:
                    self.stream_ids.add(task_id, 0, stream_id)
                return
            firsts = task.first_steps()
            ids = await asyncio.gather(
                *(self._enqueues.submit(queue.StepMessage(str(task_id), seq, trace)) for seq in firsts)
            )
        for seq, stream_id in zip(firsts, ids, strict=True):
            if stream_id:
                self.stream_ids.add(task_id, seq, stream_id)

    async def _enqueue_batch(self, messages: list[queue.StepMessage]) -> list[str | None]:
        try:
            return list(
                await queue.enqueue(self.redis, messages, status="queued", status_ttl_s=self.status_ttl_s)
            )
        except RedisError as exc:
            log.warning(
                "%d tasks stored but not enqueued (%s); the reconciler will enqueue them", len(messages), exc
            )
            return [None] * len(messages)


def _bad_data(exc: BaseException) -> bool:
    """A data error may be one task's fault: retry the batch's tasks one by one. A lost
    connection is everyone's: fail the batch (503)."""
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, db.UNAVAILABLE)
