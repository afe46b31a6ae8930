"""What a step asks of Redis as it moves on, batched: enqueue the steps it made due, mirror
its task's status in `task:{id}:status`, and acknowledge and delete its message. The steps
in flight share one pipeline per batch (group commit) instead of a round trip each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from agent_common import queue
from agent_common.batching import Batcher
from agent_common.streamids import StreamIdRecorder


@dataclass(frozen=True, slots=True)
class RedisOp:
    """What one step asks of Redis when it moves on."""

    task_id: uuid.UUID
    message_id: str | None  # acknowledge and delete this message
    nxt: tuple[queue.StepMessage, ...]  # enqueue these steps
    status: str | None  # mirror the task's status


def messages(
    task_id: uuid.UUID, seqs: tuple[int, ...] | list[int], trace: str
) -> tuple[queue.StepMessage, ...]:
    return tuple(queue.StepMessage(str(task_id), seq, trace) for seq in seqs)


class Outbox:
    def __init__(self, redis: aioredis.Redis, stream_ids: StreamIdRecorder, *, status_ttl_s: int) -> None:
        self.redis = redis
        self.stream_ids = stream_ids
        self.status_ttl_s = status_ttl_s
        self._ops: Batcher[RedisOp, None] = Batcher(self._write)

    async def advance(
        self,
        message_id: str | None,
        task_id: uuid.UUID,
        nxt: tuple[queue.StepMessage, ...],
        status: str | None,
    ) -> None:
        """Enqueue `nxt`, mirror `status` when given, acknowledge `message_id` when given."""
        await self._ops.submit(RedisOp(task_id, message_id, nxt, status))

    async def mirror(self, task_id: uuid.UUID, status: str) -> None:
        await self._ops.submit(RedisOp(task_id, None, (), status))

    async def _write(self, ops: list[RedisOp]) -> list[None]:
        """One pipeline for a batch: each XADD and SET, then one XACK and one XDEL for all."""
        pipe = self.redis.pipeline(transaction=False)
        xadds: list[tuple[int, queue.StepMessage]] = []  # (pipeline index, message)
        for op in ops:
            for message in op.nxt:
                xadds.append((len(pipe), message))
                queue.pipe_xadd(pipe, message)
            if op.status:
                queue.pipe_status(pipe, str(op.task_id), op.status, self.status_ttl_s)
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
