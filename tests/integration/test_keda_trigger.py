"""KEDA's trigger counts the queue's backlog correctly: on a real Redis 7, the queue is driven
exactly as the services drive it, and after every step the number that prod's ScaledObject
makes KEDA read must equal the steps not yet finished.

The pattern (agent_common/queue.py, agent_worker/runner.py and reconciler.py): the
orchestrator XADDs first steps; a worker XREADGROUPs up to its free slots, and a finished
batch is one pipeline of the next steps' XADDs, one XACK and one XDEL; a live worker
refreshes what it holds with XCLAIM JUSTID (heartbeat); the reclaimer takes a dead worker's
messages with XPENDING then XCLAIM (and XACKs one deleted meanwhile); a message delivered too
often is moved to task_queue:dead (XADD there, XACK, XDEL); after Redis lost its data the
reconciler recreates the group and XADDs again the steps PostgreSQL says are due.

KEDA 2.20.2's redis-streams scaler (pkg/scalers/redis_streams_scaler.go) has three modes:
with consumerGroup and lagCount, XINFO GROUPS `lag` (go-redis 9.19 turns a NULL lag into
-1); with consumerGroup alone, the XPENDING count; without consumerGroup, XLEN. Every
observation, with what `lag` and `entries-read` said, goes to
test-artifacts/keda/trigger.json.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from agent_common import queue
from tests.conftest import ARTIFACTS
from tests.manifests.support import REPO, render
from tests.support.redis7 import redis7

WORKER_CONCURRENCY = 8  # base/worker/configmap.yaml: the slots a worker reads for
MAX_DELIVERIES = 5


@dataclass
class Observation:
    at: str
    backlog: int  # steps not yet finished: the truth KEDA should scale on
    in_hand: int  # read by a worker, not finished
    xlen: int
    pending: int
    lag: int | None
    entries_read: int | None
    keda: dict[str, int] = field(default_factory=dict)  # mode -> what KEDA would read


def keda_mode(trigger: dict[str, str]) -> str:
    """redisStreamsMetadata.Validate in KEDA 2.20.2."""
    if trigger.get("consumerGroup"):
        return "lagCount" if int(trigger.get("lagCount", "0") or 0) else "pendingEntriesCount"
    return "streamLength"


async def keda_reads(redis: aioredis.Redis) -> dict[str, int]:
    """What each mode's createEntriesCountFn returns for task_queue/workers."""
    pending = await redis.xpending(queue.STREAM, queue.GROUP)
    groups = await redis.xinfo_groups(queue.STREAM)
    group = next(g for g in groups if g["name"] == queue.GROUP)
    return {
        "lagCount": -1 if group.get("lag") is None else int(group["lag"]),
        "pendingEntriesCount": int(pending["pending"]),
        "streamLength": int(await redis.xlen(queue.STREAM)),
    }


class Queue:
    """The queue as the services use it, and the truth: which steps are unfinished."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.unfinished: set[str] = set()
        self.in_hand: dict[str, set[str]] = {}  # consumer -> message ids it holds
        self.steps: dict[str, queue.StepMessage] = {}
        self.observations: list[Observation] = []
        self._task = 0

    async def observe(self, at: str) -> Observation:
        groups = await self.redis.xinfo_groups(queue.STREAM)
        group = next(g for g in groups if g["name"] == queue.GROUP)
        held = sum(len(ids) for ids in self.in_hand.values())
        obs = Observation(
            at,
            len(self.unfinished),
            held,
            int(await self.redis.xlen(queue.STREAM)),
            int(group["pending"]),
            group.get("lag"),
            group.get("entries-read"),
            await keda_reads(self.redis),
        )
        self.observations.append(obs)
        return obs

    async def submit(self, n: int) -> None:
        """The orchestrator: n tasks, each enqueued at its first step."""
        steps = []
        for _ in range(n):
            self._task += 1
            steps.append(queue.StepMessage(f"task-{self._task}", 1))
        await self._add(steps)

    async def _add(self, steps: list[queue.StepMessage], *, requeued: bool = False) -> None:
        if requeued:
            steps = [queue.StepMessage(s.task_id, s.seq, requeued=True) for s in steps]
        ids = await queue.enqueue(self.redis, steps, status="queued", status_ttl_s=3600)
        for mid, step in zip(ids, steps, strict=True):
            self.unfinished.add(mid)
            self.steps[mid] = step

    async def start(self, consumer: str) -> None:
        await queue.register_consumer(self.redis, consumer)
        self.in_hand.setdefault(consumer, set())

    async def read(self, consumer: str, count: int) -> list[str]:
        got = await queue.read(self.redis, consumer, count=count, block_ms=10)
        ids = [d.message_id for d in got]
        self.in_hand[consumer].update(ids)
        return ids

    async def finish(self, consumer: str, ids: list[str], *, last_seq: int = 3) -> None:
        """The runner's _write_redis_ops: each finished step's successor (up to last_seq),
        then one XACK and one XDEL for the batch, in one pipeline."""
        pipe = self.redis.pipeline(transaction=False)
        successors = []
        for mid in ids:
            step = self.steps[mid]
            if step.seq < last_seq:
                nxt = queue.StepMessage(step.task_id, step.seq + 1)
                queue.pipe_xadd(pipe, nxt)
                successors.append(nxt)
        pipe.xack(queue.STREAM, queue.GROUP, *ids)
        pipe.xdel(queue.STREAM, *ids)
        results = await pipe.execute()
        for mid in ids:
            self.unfinished.discard(mid)
            self.in_hand[consumer].discard(mid)
        for new_id, nxt in zip(results[: len(successors)], successors, strict=True):
            self.unfinished.add(str(new_id))
            self.steps[str(new_id)] = nxt

    async def heartbeat(self, consumer: str) -> None:
        ids = list(self.in_hand[consumer])
        if ids:
            await self.redis.xclaim(queue.STREAM, queue.GROUP, consumer, 0, ids, justid=True)

    async def reclaim(self, consumer: str, min_idle_ms: int) -> list[queue.Delivery]:
        """The reclaimer takes over whatever has been idle for min_idle_ms."""
        got = await queue.reclaim(self.redis, consumer, min_idle_ms=min_idle_ms, count=100)
        for d in got:
            for held in self.in_hand.values():
                held.discard(d.message_id)
            self.in_hand[consumer].add(d.message_id)
        return got

    async def dead_letter(self, consumer: str, delivery: queue.Delivery) -> None:
        await queue.dead_letter(self.redis, delivery, "delivered too often")
        self.unfinished.discard(delivery.message_id)
        self.in_hand[consumer].discard(delivery.message_id)

    async def lose_everything(self) -> None:
        """Redis restarted empty; the workers recreate the group and the reconciler puts
        back every step PostgreSQL still has open."""
        open_steps = [self.steps[mid] for mid in sorted(self.unfinished)]
        await self.redis.flushall()
        self.unfinished.clear()
        for held in self.in_hand.values():
            held.clear()
        await queue.ensure_group(self.redis)
        for consumer in self.in_hand:
            await queue.register_consumer(self.redis, consumer)
        await self._add(open_steps, requeued=True)


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    with redis7() as url:
        client = aioredis.from_url(url, decode_responses=True)
        await queue.ensure_group(client)
        yield client
        await client.aclose()


async def walk_the_paths(q: Queue) -> None:
    """Each path of the pattern once, observed after every step."""
    for c in ("w1", "w2", "w3"):
        await q.start(c)
    await q.observe("empty")
    await q.submit(12)
    await q.observe("12 tasks submitted")
    first = await q.read("w1", 4)
    second = await q.read("w2", 4)
    await q.observe("w1 and w2 read 4 each")
    await q.finish("w2", second[-1:])  # finished out of order: the newest read goes first
    await q.observe("w2 finished its last-read step first")
    await q.finish("w1", first[:3])
    await q.observe("w1 finished 3 of its 4")
    await asyncio.sleep(0.1)
    await q.heartbeat("w1")  # w1 lives on; w2 died holding 3
    reclaimed = await q.reclaim("w3", min_idle_ms=50)
    assert sorted(d.message_id for d in reclaimed) == sorted(second[:3])
    await q.observe("w3 reclaimed w2's steps")
    await q.dead_letter("w3", reclaimed[0])
    await q.observe("one step dead-lettered")
    await q.finish("w3", [d.message_id for d in reclaimed[1:]])
    await q.observe("w3 finished the rest it reclaimed")
    await q.read("w3", WORKER_CONCURRENCY)
    await q.observe("w3 read a full slot")
    await q.lose_everything()
    await q.observe("Redis lost its data, the reconciler re-added the open steps")
    for c in ("w1", "w2", "w3"):
        while ids := await q.read(c, WORKER_CONCURRENCY):
            await q.finish(c, ids)
            await q.observe(f"{c} finished a batch")
    await q.observe("drained")


async def run_under_load(q: Queue, rng: random.Random, rounds: int) -> None:
    """Three workers reading for their free slots and finishing random subsets in random
    order while tasks keep arriving; now and then one dies and another reclaims its steps."""
    workers = ["w1", "w2", "w3"]
    for c in workers:
        await q.start(c)
    for i in range(rounds):
        if rng.random() < 0.3:
            await q.submit(rng.randint(1, 6))
        c = rng.choice(workers)
        free = max(0, WORKER_CONCURRENCY - len(q.in_hand[c]))
        if free and rng.random() < 0.6:
            await q.read(c, rng.randint(1, free))
        held = list(q.in_hand[c])
        if held:
            done = rng.sample(held, rng.randint(1, len(held)))
            await q.finish(c, done)
        if rng.random() < 0.03:
            for d in await q.reclaim(c, min_idle_ms=0):
                if d.deliveries > MAX_DELIVERIES:
                    await q.dead_letter(c, d)
        await q.observe(f"load round {i}")


async def test_the_scaledobject_counts_every_unfinished_step(redis: aioredis.Redis) -> None:
    info = await redis.info("server")
    assert int(info["redis_version"].split(".")[0]) >= 7

    paths = Queue(redis)
    await walk_the_paths(paths)
    await redis.flushall()
    await queue.ensure_group(redis)
    load = Queue(redis)
    await run_under_load(load, random.Random(13), rounds=400)  # noqa: S311 - a reproducible walk
    observations = paths.observations + load.observations

    prod = render(REPO / "overlays" / "prod")
    (trigger,) = prod.get("ScaledObject", "worker")["spec"]["triggers"]
    meta = trigger["metadata"]
    mode = keda_mode(meta)
    summary = _summary(observations)
    _record(paths.observations, summary, mode)

    # the walk is not vacuous: steps were in hand and unread at once, out of order
    assert any(o.in_hand and o.backlog > o.in_hand for o in observations)
    assert summary["observations"] > 400
    assert meta["stream"] == queue.STREAM
    wrong = [o for o in observations if o.keda[mode] != o.backlog]
    assert not wrong, (
        f"KEDA's {mode} mode misreads the backlog at {len(wrong)} of {len(observations)} points, "
        f"first: {asdict(wrong[0])}"
    )
    # and the replicas it asks for follow: one per `target` unfinished steps
    target = int(meta[mode])
    peak = max(o.backlog for o in observations)
    assert math.ceil(max(o.keda[mode] for o in observations) / target) == math.ceil(peak / target)


def _summary(observations: list[Observation]) -> dict[str, Any]:
    return {
        "observations": len(observations),
        "lag_null": sum(o.lag is None for o in observations),
        "lag_not_the_unread": sum(o.lag is not None and o.lag != o.backlog - o.in_hand for o in observations),
        **{
            f"{mode}_wrong": sum(o.keda[mode] != o.backlog for o in observations)
            for mode in ("lagCount", "pendingEntriesCount", "streamLength")
        },
    }


def _record(points: list[Observation], summary: dict[str, Any], mode: str) -> None:
    folder = ARTIFACTS / "keda"
    folder.mkdir(parents=True, exist_ok=True)
    data = {"mode": mode, "summary": summary, "paths": [asdict(o) for o in points]}
    (folder / "trigger.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"\nKEDA trigger on Redis 7, mode in prod: {mode}; {summary}")
    print(f"{'after':58} backlog xlen pending   lag entries-read")
    for o in points:
        print(f"{o.at:58} {o.backlog:7} {o.xlen:4} {o.pending:7} {o.lag!s:>5} {o.entries_read!s:>12}")
