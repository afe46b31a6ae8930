"""The task-step queue: a Redis stream `task_queue` read by the consumer group `workers`.

A message names one step (`task_id`, `seq`) and carries the W3C trace context. The step's
inputs and outputs live in PostgreSQL, so a message is tiny and a lost stream can be
rebuilt from the database. A handled message is acknowledged and deleted, so the stream
holds exactly the steps still to run (its length is the backlog KEDA scales on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT, StreamIdT

STREAM = "task_queue"
GROUP = "workers"
DEAD_STREAM = "task_queue:dead"

# Stream replies as redis-py returns them from a client with decode_responses=True (its own
# annotations allow any reply for every command): an entry is (id, fields), and XCLAIM gives
# None for the fields of an entry deleted in the meantime.
Entry = tuple[str, dict[str, str]]
ReadReply = list[tuple[str, list[Entry]]]
ClaimReply = list[tuple[str, dict[str, str] | None]]


def status_key(task_id: str) -> str:
    return f"task:{task_id}:status"


@dataclass(frozen=True, slots=True)
class StepMessage:
    task_id: str
    seq: int
    traceparent: str = ""
    # put back by the reconciler: may take over a step marked processing
    requeued: bool = False

    def fields(self) -> dict[str, str]:
        fields = {"task_id": self.task_id, "seq": str(self.seq)}
        if self.traceparent:
            fields["traceparent"] = self.traceparent
        if self.requeued:
            fields["requeued"] = "1"
        return fields

    @classmethod
    def parse(cls, fields: dict[str, str]) -> StepMessage:
        return cls(
            fields["task_id"],
            int(fields["seq"]),
            fields.get("traceparent", ""),
            fields.get("requeued") == "1",
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message handed to this consumer: its stream id, content and delivery count."""

    message_id: str
    step: StepMessage | None  # None when the fields could not be parsed
    raw: dict[str, str]
    deliveries: int = 1


async def ensure_group(redis: aioredis.Redis) -> None:
    """Create the stream and group if missing; reading from 0 keeps messages added first."""
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def register_consumer(redis: aioredis.Redis, consumer: str) -> None:
    """Name this consumer in the group at start. Redis before 7 creates a consumer only when
    a read returns a message, so an idle worker would otherwise be invisible (to KEDA's
    view of the group, to /api/upstreams)."""
    await redis.xgroup_createconsumer(STREAM, GROUP, consumer)


async def unregister_consumer(redis: aioredis.Redis, consumer: str) -> bool:
    """Remove this consumer at a clean exit, but only with nothing pending: deleting a
    consumer drops its pending entries, and those would never be delivered again."""
    summary = await redis.xpending_range(STREAM, GROUP, min="-", max="+", count=1, consumername=consumer)
    if summary:
        return False
    await redis.xgroup_delconsumer(STREAM, GROUP, consumer)
    return True


async def prune_consumers(redis: aioredis.Redis, idle_ms: int) -> list[str]:
    """Forget consumers with nothing pending and idle for idle_ms (workers that were
    killed). A live one removed by mistake is named again by its next read, so this is safe."""
    removed = []
    for info in await redis.xinfo_consumers(STREAM, GROUP):
        if int(info.get("pending", 0)) == 0 and int(info.get("idle", 0)) >= idle_ms:
            await redis.xgroup_delconsumer(STREAM, GROUP, info["name"])
            removed.append(info["name"])
    return removed


# The two commands of the hot paths, queued on a pipeline as raw commands: redis-py 8's
# xadd() and set() check every call's arguments for deprecated and experimental options,
# which cost more CPU than encoding the command (10% of a busy worker, by py-spy).
def pipe_xadd(pipe: Pipeline, step: StepMessage) -> None:
    fields = step.fields()
    pipe.execute_command("XADD", STREAM, "*", *(part for item in fields.items() for part in item))


def pipe_status(pipe: Pipeline, task_id: str, status: str, ttl_s: int) -> None:
    pipe.execute_command("SET", status_key(task_id), status, "EX", ttl_s)


async def enqueue(
    redis: aioredis.Redis, steps: list[StepMessage], *, status: str | None = None, status_ttl_s: int
) -> list[str]:
    """Add steps to the stream (one round trip); optionally mirror each task's status."""
    pipe = redis.pipeline(transaction=False)
    for step in steps:
        pipe_xadd(pipe, step)
        if status:
            pipe_status(pipe, step.task_id, status, status_ttl_s)
    results = await pipe.execute()
    return [str(r) for r in results[:: 2 if status else 1]]


async def read(redis: aioredis.Redis, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
    """New messages for this consumer (blocks up to block_ms when there are none)."""
    reply = cast(
        ReadReply | None, await redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms)
    )
    return [_delivery(mid, fields) for _stream, messages in reply or [] for mid, fields in messages]


async def reclaim(redis: aioredis.Redis, consumer: str, *, min_idle_ms: int, count: int) -> list[Delivery]:
    """Messages that another consumer took but did not finish within min_idle_ms.

    XPENDING gives the delivery counts (XAUTOCLAIM does not), then XCLAIM takes them
    over; a message another worker claimed in between is simply not returned."""
    pending = cast(
        list[dict[str, Any]],
        await redis.xpending_range(STREAM, GROUP, min="-", max="+", count=count, idle=min_idle_ms),
    )
    if not pending:
        return []
    ids: list[StreamIdT] = [p["message_id"] for p in pending]
    counts = {str(p["message_id"]): int(p["times_delivered"]) + 1 for p in pending}
    claimed = cast(
        ClaimReply, await redis.xclaim(STREAM, GROUP, consumer, min_idle_time=min_idle_ms, message_ids=ids)
    )
    out = []
    for mid, fields in claimed:
        if fields is None:  # deleted from the stream meanwhile: drop its pending entry
            await redis.xack(STREAM, GROUP, mid)
            continue
        out.append(_delivery(mid, fields, counts.get(mid, 1)))
    return out


async def dead_letter(redis: aioredis.Redis, delivery: Delivery, reason: str) -> None:
    """Move a message to the dead-letter stream, then drop it from the work stream."""
    fields: dict[FieldT, EncodableT] = {key: value for key, value in delivery.raw.items()}
    fields.update(original_id=delivery.message_id, deliveries=str(delivery.deliveries), reason=reason)
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(DEAD_STREAM, fields)
    pipe.xack(STREAM, GROUP, delivery.message_id)
    pipe.xdel(STREAM, delivery.message_id)
    await pipe.execute()


async def present(redis: aioredis.Redis, message_ids: list[str]) -> list[bool]:
    """Whether each message id is still in the stream (the reconciler's question)."""
    pipe = redis.pipeline(transaction=False)
    for mid in message_ids:
        pipe.xrange(STREAM, min=mid, max=mid, count=1)
    return [bool(r) for r in await pipe.execute()]


def _delivery(message_id: str, fields: dict[str, str], deliveries: int = 1) -> Delivery:
    try:
        step = StepMessage.parse(fields)
    except (KeyError, ValueError):
        step = None
    return Delivery(message_id, step, fields, deliveries)


@dataclass(frozen=True, slots=True)
class Stats:
    """The backlog: messages in the stream, those handed out but not acknowledged (pending),
    those no consumer has read yet (lag), the group's consumers and the dead letters."""

    length: int
    pending: int
    lag: int
    consumers: int
    dead: int


async def stats(redis: aioredis.Redis) -> Stats:
    """One round trip. Redis before 7 reports no lag; since handled messages are deleted,
    the stream then holds exactly the pending plus the unread ones."""
    pipe = redis.pipeline(transaction=False)
    pipe.xlen(STREAM)
    pipe.xlen(DEAD_STREAM)
    pipe.xinfo_groups(STREAM)
    length, dead, groups = await pipe.execute(raise_on_error=False)
    if isinstance(length, Exception) or isinstance(dead, Exception):
        raise length if isinstance(length, Exception) else dead
    group: dict[str, Any] = (
        {} if isinstance(groups, Exception) else next((g for g in groups if g.get("name") == GROUP), {})
    )
    pending = int(group.get("pending") or 0)
    lag = group.get("lag")
    lag = int(lag) if lag is not None else max(0, length - pending)
    return Stats(int(length), pending, lag, int(group.get("consumers") or 0), int(dead))
