"""The worker's SQL for a step that did not complete: failed (and with it its task, unless
it was optional), put back for a retry, dead-lettered, or stopped because its task ended.
Like every write of agent_worker.store, each is conditional on the step's current status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from agent_common import db
from agent_worker.store import NEXT_DUE


@dataclass(frozen=True, slots=True)
class Failure:
    task_failed: bool  # this call failed the task (the step was not optional)
    ready: tuple[int, ...]  # steps that now run without the failed one's output


_FAIL_STEP = """
UPDATE task_steps SET status = 'failed', error = $3, finished_at = clock_timestamp()
 WHERE task_id = $1 AND seq = $2 AND status IN ('queued', 'processing')
RETURNING step_id, optional
"""
_FAIL_TASK = """
WITH task AS (
    UPDATE tasks SET status = 'failed', error = $2, updated_at = clock_timestamp()
     WHERE task_id = $1 AND status IN ('queued', 'processing')
    RETURNING task_id
), skipped AS (
    UPDATE task_steps SET status = 'skipped'
     WHERE task_id = $1 AND status = 'queued' AND EXISTS (SELECT 1 FROM task)
)
SELECT EXISTS (SELECT 1 FROM task)
"""
# The optional steps after a failed optional step are skipped too; the steps that are not
# optional and read any of them run without those outputs once the rest is done.
_SKIP_AFTER = (
    """
WITH RECURSIVE lost(step_id) AS (
    SELECT $2::text
    UNION
    SELECT c.step_id FROM task_steps c JOIN lost ON lost.step_id = ANY (c.depends_on)
     WHERE c.task_id = $1 AND c.optional AND c.status = 'queued'
), skipped AS (
    UPDATE task_steps s SET status = 'skipped', error = $3, finished_at = clock_timestamp()
      FROM lost
     WHERE s.task_id = $1 AND s.step_id = lost.step_id AND s.step_id <> $2 AND s.status = 'queued'
), counts AS (
    SELECT c.task_id, c.seq, count(*)::smallint AS n
      FROM task_steps c JOIN lost ON lost.step_id = ANY (c.depends_on)
     WHERE c.task_id = $1 AND NOT c.optional
     GROUP BY c.task_id, c.seq
), """  # noqa: S608 - constants only
    + NEXT_DUE
    + """
SELECT seq FROM nxt WHERE ready ORDER BY seq
"""
)


async def fail(conn: db.Conn, task_id: uuid.UUID, seq: int, step_type: str, message: str) -> Failure:
    """Fail the step. A step that is not optional fails its task (the steps not yet run are
    skipped); an optional one skips the optional steps after it and lets the others go on."""
    async with conn.transaction():
        row = await conn.fetchrow(_FAIL_STEP, task_id, seq, message)
        if row is None:
            return Failure(False, ())
        if not row["optional"]:
            failed = bool(await conn.fetchval(_FAIL_TASK, task_id, f"{step_type} failed: {message}"))
            return Failure(failed, ())
        why = f"skipped: {row['step_id']} failed ({message})"
        ready = await conn.fetch(_SKIP_AFTER, task_id, row["step_id"], why)
        return Failure(False, tuple(r["seq"] for r in ready))


async def release_for_retry(conn: db.Conn, task_id: uuid.UUID, seq: int, message: str) -> None:
    """A retryable failure: the step goes back to queued, keeping the last error."""
    await conn.execute(
        "UPDATE task_steps SET status = 'queued', error = $3 WHERE task_id = $1 AND seq = $2"
        " AND status = 'processing'",
        task_id,
        seq,
        message,
    )


async def fail_dead_lettered(pool: asyncpg.Pool, task_id: uuid.UUID, seq: int, deliveries: int) -> Failure:
    async with pool.acquire() as conn:
        step_type = (
            await conn.fetchval("SELECT type FROM task_steps WHERE task_id = $1 AND seq = $2", task_id, seq)
            or "step"
        )
        message = (
            f"delivered {deliveries} times without finishing (its worker crashed or hung each time);"
            " moved to the dead-letter stream task_queue:dead"
        )
        return await fail(conn, task_id, seq, step_type, message)


async def stop(pool: asyncpg.Pool, task_id: uuid.UUID, seq: int) -> bool:
    """A step interrupted because its task ended (cancelled, or failed in another branch):
    cancelled or skipped like the task's other unfinished steps. False when it had already
    finished."""
    return (
        await pool.fetchval(
            "UPDATE task_steps s"
            "   SET status = CASE t.status WHEN 'cancelled' THEN 'cancelled' ELSE 'skipped' END,"
            "       error = CASE t.status WHEN 'cancelled' THEN 'stopped: the task was cancelled'"
            "                             ELSE 'stopped: the task ' || t.status END,"
            "       finished_at = clock_timestamp()"
            "  FROM tasks t"
            " WHERE s.task_id = $1 AND s.seq = $2 AND t.task_id = s.task_id AND s.status = 'processing'"
            "   AND t.status NOT IN ('queued', 'processing')"
            " RETURNING true",
            task_id,
            seq,
        )
        or False
    )
