"""The worker's SQL: claim a step, record its outcome, and find steps to re-enqueue.

Every write is conditional on the current status, so a step delivered twice records its
outcome once and a cancelled task stays cancelled."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from agent_common.streamids import UPDATE_UNLOCKED

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


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    task_id: uuid.UUID
    seq: int
    # a step already processing is taken over only by a redelivery (its worker died) or a
    # reconciler copy, never by a fresh duplicate message: one live step never runs twice
    allow_running: bool


# Claims many steps in one statement. Each request row carries its index, so the answer
# maps back to the caller even when some requests claim nothing.
_CLAIM = """
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::bool[]) WITH ORDINALITY
        AS r(task_id, seq, allow_running, i)
), step AS (
    UPDATE task_steps s
       SET status = 'processing', attempts = s.attempts + 1, started_at = clock_timestamp()
      FROM req, tasks t
     WHERE s.task_id = req.task_id AND s.seq = req.seq AND t.task_id = s.task_id
       AND t.status IN ('queued', 'processing')
       AND (s.status = 'queued' OR (req.allow_running AND s.status = 'processing'))
    RETURNING s.task_id, s.seq, s.type, s.params, s.attempts, t.user_id
), task AS (
    UPDATE tasks t SET status = 'processing', updated_at = clock_timestamp()
      FROM step
     WHERE t.task_id = step.task_id AND t.status = 'queued'
    RETURNING t.task_id
)
SELECT req.i, step.type, step.params, step.attempts, step.user_id,
       (SELECT count(*) FROM task_steps c WHERE c.task_id = step.task_id) AS step_count,
       (SELECT p.output FROM task_steps p WHERE p.task_id = step.task_id AND p.seq = step.seq - 1)
           AS previous,
       EXISTS (SELECT 1 FROM task WHERE task.task_id = step.task_id) AS task_started
  FROM req JOIN step ON step.task_id = req.task_id AND step.seq = req.seq
"""


# A batch statement that PostgreSQL aborted to break a lock cycle wrote nothing: run it again
# rather than fail every step in it (they would wait out the visibility timeout).
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_TRIES = 3


async def _fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    for attempt in range(1, _TRIES + 1):
        try:
            return await pool.fetch(sql, *args)
        except _RETRYABLE:
            if attempt == _TRIES:
                raise
            await asyncio.sleep(0.005 * attempt)
    raise AssertionError("unreachable")


async def claim(pool: asyncpg.Pool, requests: list[ClaimRequest]) -> list[ClaimedStep | None]:
    """Mark the steps processing; None for each that must not run (done, cancelled,
    unknown, or a second request for a step this batch already claims)."""
    first: dict[tuple[uuid.UUID, int], int] = {}
    for i, r in enumerate(requests):
        first.setdefault((r.task_id, r.seq), i)
    rows = await _fetch(pool, _CLAIM, [r.task_id for r in requests], [r.seq for r in requests],
                        [r.allow_running for r in requests])
    out: list[ClaimedStep | None] = [None] * len(requests)
    for row in rows:
        i = row["i"] - 1
        if first[(requests[i].task_id, requests[i].seq)] == i:
            out[i] = ClaimedStep(row["type"], row["params"], row["attempts"], row["step_count"],
                                 row["previous"], row["task_started"], row["user_id"])
    return out


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


@dataclass(frozen=True, slots=True)
class Completion:
    task_id: uuid.UUID
    seq: int
    output: dict[str, Any]
    last: bool               # the task's last step: its result completes the task
    result: str | None


_COMPLETE = """
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::jsonb[], $4::bool[], $5::text[]) WITH ORDINALITY
        AS r(task_id, seq, output, last, result, i)
), done AS (
    UPDATE task_steps s
       SET status = 'completed', output = req.output, error = NULL, finished_at = clock_timestamp()
      FROM req
     WHERE s.task_id = req.task_id AND s.seq = req.seq AND s.status = 'processing'
    RETURNING s.task_id, s.seq
), nxt AS (
    UPDATE task_steps s SET enqueued_at = clock_timestamp()
      FROM done
     WHERE s.task_id = done.task_id AND s.seq = done.seq + 1 AND s.status = 'queued'
    RETURNING s.task_id, s.seq - 1 AS seq
), task AS (
    UPDATE tasks t
       SET updated_at = clock_timestamp(),
           status = CASE WHEN req.last THEN 'completed' ELSE t.status END,
           result = CASE WHEN req.last THEN req.result ELSE t.result END
      FROM done JOIN req ON req.task_id = done.task_id AND req.seq = done.seq
     WHERE t.task_id = done.task_id AND t.status = 'processing'
    RETURNING t.task_id, t.status
)
SELECT req.i, done.task_id IS NOT NULL AS recorded, nxt.task_id IS NOT NULL AS next_ready,
       task.status AS task_status
  FROM req
  LEFT JOIN done ON done.task_id = req.task_id AND done.seq = req.seq
  LEFT JOIN nxt ON nxt.task_id = req.task_id AND nxt.seq = req.seq
  LEFT JOIN task ON task.task_id = req.task_id
 ORDER BY req.i
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    recorded: bool          # this call wrote the output (False: someone else did, or cancelled)
    next_ready: bool        # the next step is now due: enqueue it
    task_status: str | None  # the task's status after this write, when it changed


async def complete(pool: asyncpg.Pool, done: list[Completion]) -> list[Outcome]:
    """Record many steps' outputs in one statement (only steps still processing)."""
    rows = await _fetch(pool, _COMPLETE, [c.task_id for c in done], [c.seq for c in done],
                        [c.output for c in done], [c.last for c in done], [c.result for c in done])
    seen: set[tuple[uuid.UUID, int]] = set()
    out = []
    for c, r in zip(done, rows, strict=True):
        first = (c.task_id, c.seq) not in seen
        seen.add((c.task_id, c.seq))
        # a step run twice at once records once: only the first of the pair moves it on
        out.append(Outcome(r["recorded"], r["next_ready"], r["task_status"]) if first
                   else Outcome(False, False, None))
    return out


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


async def still_open(pool: asyncpg.Pool, keys: list[tuple[uuid.UUID, int]]) -> set[tuple[uuid.UUID, int]]:
    """Which of these steps are still unfinished, in tasks still running."""
    rows = await pool.fetch(
        "SELECT s.task_id, s.seq FROM task_steps s JOIN tasks t USING (task_id)"
        " JOIN unnest($1::uuid[], $2::smallint[]) AS k(task_id, seq)"
        "   ON k.task_id = s.task_id AND k.seq = s.seq"
        " WHERE s.status IN ('queued', 'processing') AND t.status IN ('queued', 'processing')",
        [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(r["task_id"], r["seq"]) for r in rows}


_MARK_REQUEUED = UPDATE_UNLOCKED.format(extra=", enqueued_at = clock_timestamp()")


async def mark_requeued(pool: asyncpg.Pool, rows: list[tuple[uuid.UUID, int, str]]) -> None:
    """Record the copies' stream ids. A row a worker has locked is being claimed right now:
    it is left as it is rather than waited for (see agent_common.streamids)."""
    await pool.fetch(_MARK_REQUEUED, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


async def fail_dead_lettered(pool: asyncpg.Pool, task_id: uuid.UUID, seq: int, deliveries: int) -> bool:
    async with pool.acquire() as conn:
        step_type = await conn.fetchval(
            "SELECT type FROM task_steps WHERE task_id = $1 AND seq = $2", task_id, seq
        ) or "step"
        message = (f"delivered {deliveries} times without finishing (its worker crashed or hung each time);"
                   " moved to the dead-letter stream task_queue:dead")
        return await fail(conn, task_id, seq, step_type, message)
