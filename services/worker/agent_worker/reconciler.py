"""Put back on the stream the steps PostgreSQL says are due but no stream holds.

That happens when Redis lost its data (restarted empty, FLUSHALL) or a process died
between committing a step and adding its message. One worker at a time reconciles (a
Redis lock); the others skip the round."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import redis.asyncio as aioredis

from agent_common import queue
from agent_common.streamids import UPDATE_UNLOCKED
from agent_worker import metrics
from agent_worker.settings import WorkerSettings

log = logging.getLogger("agent.reconciler")

LOCK_KEY = "task_queue:reconciler"
BATCH = 500


class Reconciler:
    """One pass: re-enqueue steps no stream holds, and forget consumers of dead workers."""

    def __init__(self, settings: WorkerSettings, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis

    async def run_once(self) -> int:
        """One pass; returns how many steps were re-enqueued."""
        lock_ms = int(self.settings.reconcile_interval_s * 1000)
        if not await self.redis.set(LOCK_KEY, "1", nx=True, px=lock_ms):
            return 0
        await queue.ensure_group(self.redis)
        await self._prune()
        due = await due_steps(self.pool, self.settings.reconcile_min_age_s, BATCH)
        if not due:
            return 0
        known = [r for r in due if r["stream_id"]]
        present = dict(
            zip(
                [(r["task_id"], r["seq"]) for r in known],
                await queue.present(self.redis, [r["stream_id"] for r in known]) if known else [],
                strict=True,
            )
        )
        missing = [r for r in due if not present.get((r["task_id"], r["seq"]), False)]
        if missing:
            # a step can finish (and its message be deleted) between the two reads above:
            # ask PostgreSQL again, so a busy queue does not get needless copies
            still = await still_open(self.pool, [(r["task_id"], r["seq"]) for r in missing])
            missing = [r for r in missing if (r["task_id"], r["seq"]) in still]
        if not missing:
            return 0
        messages = [queue.StepMessage(str(r["task_id"]), r["seq"], requeued=True) for r in missing]
        ids = await queue.enqueue(self.redis, messages, status_ttl_s=self.settings.task_status_ttl_s)
        rows: list[tuple[uuid.UUID, int, str]] = [
            (r["task_id"], r["seq"], sid) for r, sid in zip(missing, ids, strict=True)
        ]
        await mark_requeued(self.pool, rows)
        metrics.REQUEUED.inc(len(rows))
        log.warning("re-enqueued %d steps that no stream held", len(rows))
        return len(rows)

    async def _prune(self) -> None:
        removed = await queue.prune_consumers(self.redis, int(self.settings.consumer_prune_idle_s * 1000))
        if removed:
            log.info("forgot %d consumers of workers that are gone: %s", len(removed), ", ".join(removed))


# ---- its SQL ---------------------------------------------------------------------------


async def due_steps(pool: asyncpg.Pool, min_age_s: float, limit: int) -> list[asyncpg.Record]:
    """Unfinished current steps of live tasks, enqueued at least min_age_s ago."""
    return await pool.fetch(
        "SELECT s.task_id, s.seq, s.stream_id FROM task_steps s JOIN tasks t USING (task_id)"
        " WHERE s.status IN ('queued', 'processing') AND t.status IN ('queued', 'processing')"
        "   AND s.enqueued_at IS NOT NULL"
        "   AND s.enqueued_at < clock_timestamp() - make_interval(secs => $1)"
        " ORDER BY s.enqueued_at LIMIT $2",
        min_age_s,
        limit,
    )


async def still_open(pool: asyncpg.Pool, keys: list[tuple[uuid.UUID, int]]) -> set[tuple[uuid.UUID, int]]:
    """Which of these steps are still unfinished, in tasks still running."""
    rows = await pool.fetch(
        "SELECT s.task_id, s.seq FROM task_steps s JOIN tasks t USING (task_id)"
        " JOIN unnest($1::uuid[], $2::smallint[]) AS k(task_id, seq)"
        "   ON k.task_id = s.task_id AND k.seq = s.seq"
        " WHERE s.status IN ('queued', 'processing') AND t.status IN ('queued', 'processing')",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["task_id"], r["seq"]) for r in rows}


_MARK_REQUEUED = UPDATE_UNLOCKED.format(extra=", enqueued_at = clock_timestamp()")


async def mark_requeued(pool: asyncpg.Pool, rows: list[tuple[uuid.UUID, int, str]]) -> None:
    """Record the copies' stream ids. A row a worker has locked is being claimed right now:
    it is left as it is rather than waited for (see agent_common.streamids)."""
    await pool.fetch(_MARK_REQUEUED, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
