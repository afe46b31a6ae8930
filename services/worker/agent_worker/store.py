"""The worker's SQL: claim a step, record its outcome, and find steps to re-enqueue.

Every write is conditional on the current status, so a step delivered twice records its
outcome once and a cancelled task stays cancelled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

OPEN = ("queued", "processing")


@dataclass(frozen=True, slots=True)
class ClaimedStep:
    type: str
    params: dict[str, Any]
    attempts: int
    step_count: int
    previous: dict[str, Any] | None
    task_started: bool  # this claim moved the task from queued to processing
    user_id: str = ""  # the task's owner (logged only as a hash)


_CLAIM = """
WITH step AS (
    UPDATE task_steps s
       SET status = 'processing', attempts = s.attempts + 1, started_at = clock_timestamp()
      FROM tasks t
     WHERE s.task_id = $1 AND s.seq = $2 AND t.task_id = s.task_id
       AND t.status IN ('queued', 'processing')
       AND (s.status = 'queued' OR ($3 AND s.status = 'processing'))
    RETURNING s.type, s.params, s.attempts, t.user_id
), task AS (
    UPDATE tasks SET status = 'processing', updated_at = clock_timestamp()
     WHERE task_id = $1 AND status = 'queued' AND EXISTS (SELECT 1 FROM step)
    RETURNING 1
)
SELECT step.type, step.params, step.attempts, step.user_id,
       (SELECT count(*) FROM task_steps WHERE task_id = $1) AS step_count,
       (SELECT output FROM task_steps WHERE task_id = $1 AND seq = $2 - 1) AS previous,
       EXISTS (SELECT 1 FROM task) AS task_started
  FROM step
"""


async def claim(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int, *,
                allow_running: bool) -> ClaimedStep | None:
    """Mark the step processing; None when it must not run (done, cancelled, unknown).

    A step already processing is taken over only by a redelivery (its worker died), not by
    a fresh duplicate message, so one live step never runs twice at once."""
    row = await conn.fetchrow(_CLAIM, task_id, seq, allow_running)
    if row is None:
        return None
    return ClaimedStep(row["type"], row["params"], row["attempts"], row["step_count"], row["previous"],
                       row["task_started"], row["user_id"])


async def why_not_claimable(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int) -> tuple[str, str] | None:
    """(task status, step status) of a step that claim() refused, or None if unknown."""
    row = await conn.fetchrow(
        "SELECT t.status AS task, s.status AS step FROM tasks t JOIN task_steps s USING (task_id)"
        " WHERE s.task_id = $1 AND s.seq = $2", task_id, seq,
    )
    return (row["task"], row["step"]) if row else None


async def next_is_due(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM task_steps WHERE task_id = $1 AND seq = $2 + 1 AND status = 'queued')",
        task_id, seq,
    ))


_COMPLETE = """
WITH done AS (
    UPDATE task_steps SET status = 'completed', output = $3, error = NULL, finished_at = clock_timestamp()
     WHERE task_id = $1 AND seq = $2 AND status = 'processing'
    RETURNING 1
), nxt AS (
    UPDATE task_steps SET enqueued_at = clock_timestamp()
     WHERE task_id = $1 AND seq = $2 + 1 AND status = 'queued' AND EXISTS (SELECT 1 FROM done)
    RETURNING 1
), task AS (
    UPDATE tasks
       SET updated_at = clock_timestamp(),
           status = CASE WHEN $4 THEN 'completed' ELSE status END,
           result = CASE WHEN $4 THEN $5 ELSE result END
     WHERE task_id = $1 AND status = 'processing' AND EXISTS (SELECT 1 FROM done)
    RETURNING status
)
SELECT EXISTS (SELECT 1 FROM done) AS recorded, EXISTS (SELECT 1 FROM nxt) AS next_ready,
       (SELECT status FROM task) AS task_status
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    recorded: bool          # this call wrote the output (False: someone else did, or cancelled)
    next_ready: bool        # the next step is now due: enqueue it
    task_status: str | None  # the task's status after this write, when it changed


async def complete(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int, output: dict[str, Any],
                   *, last: bool, result: str | None) -> Outcome:
    row = await conn.fetchrow(_COMPLETE, task_id, seq, output, last, result)
    return Outcome(row["recorded"], row["next_ready"], row["task_status"])


_FAIL = """
WITH failed AS (
    UPDATE task_steps SET status = 'failed', error = $3, finished_at = clock_timestamp()
     WHERE task_id = $1 AND seq = $2 AND status IN ('queued', 'processing')
    RETURNING 1
), skipped AS (
    UPDATE task_steps SET status = 'skipped'
     WHERE task_id = $1 AND seq > $2 AND status = 'queued' AND EXISTS (SELECT 1 FROM failed)
    RETURNING 1
), task AS (
    UPDATE tasks SET status = 'failed', error = $4, updated_at = clock_timestamp()
     WHERE task_id = $1 AND status IN ('queued', 'processing') AND EXISTS (SELECT 1 FROM failed)
    RETURNING status
)
SELECT EXISTS (SELECT 1 FROM task) AS task_failed
"""


async def fail(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int, step_type: str, message: str) -> bool:
    """Fail the step and its task; True when this call failed the task."""
    task_error = f"{step_type} failed: {message}"
    return bool(await conn.fetchval(_FAIL, task_id, seq, message, task_error))


async def release_for_retry(conn: asyncpg.Connection, task_id: uuid.UUID, seq: int, message: str) -> None:
    """A retryable failure: the step goes back to queued, keeping the last error."""
    await conn.execute(
        "UPDATE task_steps SET status = 'queued', error = $3 WHERE task_id = $1 AND seq = $2"
        " AND status = 'processing'", task_id, seq, message,
    )


async def record_stream_ids(pool: asyncpg.Pool, rows: list[tuple[uuid.UUID, int, str]]) -> None:
    """Remember which stream message carries each step (one statement for many)."""
    if not rows:
        return
    await pool.execute(
        "UPDATE task_steps s SET stream_id = v.sid"
        " FROM unnest($1::uuid[], $2::smallint[], $3::text[]) AS v(tid, seq, sid)"
        " WHERE s.task_id = v.tid AND s.seq = v.seq",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )


async def due_steps(pool: asyncpg.Pool, min_age_s: float, limit: int) -> list[asyncpg.Record]:
    """Unfinished current steps of live tasks, enqueued at least min_age_s ago."""
    return await pool.fetch(
        "SELECT s.task_id, s.seq, s.stream_id FROM task_steps s JOIN tasks t USING (task_id)"
        " WHERE s.status IN ('queued', 'processing') AND t.status IN ('queued', 'processing')"
        "   AND s.enqueued_at IS NOT NULL"
        "   AND s.enqueued_at < clock_timestamp() - make_interval(secs => $1)"
        " ORDER BY s.enqueued_at LIMIT $2",
        min_age_s, limit,
    )


async def mark_requeued(pool: asyncpg.Pool, rows: list[tuple[uuid.UUID, int, str]]) -> None:
    await pool.execute(
        "UPDATE task_steps s SET stream_id = v.sid, enqueued_at = clock_timestamp()"
        " FROM unnest($1::uuid[], $2::smallint[], $3::text[]) AS v(tid, seq, sid)"
        " WHERE s.task_id = v.tid AND s.seq = v.seq",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )


async def fail_dead_lettered(pool: asyncpg.Pool, task_id: uuid.UUID, seq: int, deliveries: int) -> bool:
    async with pool.acquire() as conn:
        step_type = await conn.fetchval(
            "SELECT type FROM task_steps WHERE task_id = $1 AND seq = $2", task_id, seq
        ) or "step"
        message = (f"delivered {deliveries} times without finishing (its worker crashed or hung each time);"
                   " moved to the dead-letter stream task_queue:dead")
        return await fail(conn, task_id, seq, step_type, message)
