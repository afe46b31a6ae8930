"""The worker's SQL: claim steps and record their outputs (in batches), and what a crash
between a commit and its XADD needs (agent_worker.failures holds a step's failure, the
reconciler its own queries).

Every write is conditional on the current status, so a step delivered twice records its
outcome once and a cancelled task stays cancelled.

Over 300 lines on purpose: half of it is the text of three SQL statements (claim, complete,
re-plan) that share their CTEs and must change together; split, a reader would need three
files to follow one step's row."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from agent_common import db
from agent_common.plans import PlanStep, finals


@dataclass(frozen=True, slots=True)
class Input:
    """A dependency's output as a step reads it (None when an optional one is missing)."""

    step_id: str
    type: str
    output: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ClaimedStep:
    step_id: str
    type: str
    params: dict[str, Any]
    attempts: int
    final: bool  # no step depends on it: its output is the task's result
    inputs: list[Input]  # in depends_on order
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
#
# A step is claimed only when every step it depends on has finished (completed, or failed
# or skipped and optional): when its `waiting` count is 0, which the same transactions that
# record those dependencies write. That is true whenever its message exists, except after a
# PostgreSQL crash: the worker commits asynchronously, so a crash can lose a dependency's
# completion (and with it the count's decrement) after its message was acknowledged and
# this step's message was sent. Such a step is refused (and its message dropped): the lost
# dependency reads as unfinished, the reconciler puts it back on the stream, and its
# completion enqueues this step again.
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
       AND s.waiting = 0
    RETURNING s.task_id, s.seq, s.step_id, s.type, s.params, s.attempts, s.depends_on, t.user_id
), task AS (
    UPDATE tasks t SET status = 'processing', updated_at = clock_timestamp()
      FROM step
     WHERE t.task_id = step.task_id AND t.status = 'queued'
    RETURNING t.task_id
)
SELECT req.i, step.step_id, step.type, step.params, step.attempts, step.user_id,
       NOT EXISTS (SELECT 1 FROM task_steps c WHERE c.task_id = step.task_id
                      AND step.step_id = ANY (c.depends_on)) AS final,
       ins.ids, ins.types, ins.outputs, ins.errors,
       EXISTS (SELECT 1 FROM task WHERE task.task_id = step.task_id) AS task_started
  FROM req JOIN step ON step.task_id = req.task_id AND step.seq = req.seq
  LEFT JOIN LATERAL (
      SELECT array_agg(d.step_id ORDER BY u.n) AS ids, array_agg(d.type ORDER BY u.n) AS types,
             array_agg(CASE WHEN d.status = 'completed' THEN d.output END ORDER BY u.n) AS outputs,
             array_agg(d.error ORDER BY u.n) AS errors
        FROM unnest(step.depends_on) WITH ORDINALITY AS u(id, n)
        JOIN task_steps d ON d.task_id = step.task_id AND d.step_id = u.id
  ) ins ON true
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
    unknown, waiting for a dependency, or a second request for a step this batch already
    claims)."""
    first: dict[tuple[uuid.UUID, int], int] = {}
    for i, r in enumerate(requests):
        first.setdefault((r.task_id, r.seq), i)
    rows = await _fetch(
        pool,
        _CLAIM,
        [r.task_id for r in requests],
        [r.seq for r in requests],
        [r.allow_running for r in requests],
    )
    out: list[ClaimedStep | None] = [None] * len(requests)
    for row in rows:
        i = row["i"] - 1
        if first[(requests[i].task_id, requests[i].seq)] == i:
            out[i] = ClaimedStep(
                row["step_id"],
                row["type"],
                row["params"],
                row["attempts"],
                row["final"],
                _inputs(row),
                row["task_started"],
                row["user_id"],
            )
    return out


def _inputs(row: asyncpg.Record) -> list[Input]:
    if not row["ids"]:
        return []
    return [
        Input(*parts) for parts in zip(row["ids"], row["types"], row["outputs"], row["errors"], strict=True)
    ]


async def why_not_claimable(conn: db.Conn, task_id: uuid.UUID, seq: int) -> tuple[str, str] | None:
    """(task status, step status) of a step that claim() refused, or None if unknown."""
    row = await conn.fetchrow(
        "SELECT t.status AS task, s.status AS step FROM tasks t JOIN task_steps s USING (task_id)"
        " WHERE s.task_id = $1 AND s.seq = $2",
        task_id,
        seq,
    )
    return (row["task"], row["step"]) if row else None


async def ready_after(conn: db.Conn, task_id: uuid.UUID, seq: int) -> list[int]:
    """The steps that a completed step made due and that are still queued (to enqueue them
    again when that step's message comes back after a crash between commit and XADD)."""
    return [
        r["seq"]
        for r in await conn.fetch(
            "SELECT c.seq FROM task_steps s JOIN task_steps c ON c.task_id = s.task_id"
            "   AND s.step_id = ANY (c.depends_on)"
            " WHERE s.task_id = $1 AND s.seq = $2 AND c.status = 'queued' AND c.waiting = 0"
            "   AND c.enqueued_at IS NOT NULL ORDER BY c.seq",
            task_id,
            seq,
        )
    ]


@dataclass(frozen=True, slots=True)
class Completion:
    task_id: uuid.UUID
    seq: int
    output: dict[str, Any]
    result: str | None  # set for the task's final step: its result completes the task


# The CTE `nxt` after a CTE `counts` (task_id, seq, n: how many of that step's dependencies
# just finished): each such step's `waiting` count goes down by n; one that reaches 0 while
# queued is due, and is marked enqueued now, so the reconciler enqueues it if the process
# dies before its XADD.
NEXT_DUE = """nxt AS (
    UPDATE task_steps s
       SET waiting = s.waiting - counts.n,
           enqueued_at = CASE WHEN s.waiting = counts.n AND s.status = 'queued'
                              THEN clock_timestamp() ELSE s.enqueued_at END
      FROM counts
     WHERE s.task_id = counts.task_id AND s.seq = counts.seq
    RETURNING s.task_id, s.seq, s.waiting = 0 AND s.status = 'queued' AS ready
)"""

# Records many steps' outputs in one statement. Each dependent's `waiting` count goes down
# by the number of its dependencies this batch completes; the row lock of that UPDATE
# orders concurrent batches, so when two branches finish at once on two workers, exactly
# one of them brings the join's count to 0, and it alone enqueues the join.
_COMPLETE = (
    """
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::jsonb[], $4::text[]) WITH ORDINALITY
        AS r(task_id, seq, output, result, i)
), done AS (
    UPDATE task_steps s
       SET status = 'completed', output = req.output, error = NULL, finished_at = clock_timestamp()
      FROM req
     WHERE s.task_id = req.task_id AND s.seq = req.seq AND s.status = 'processing'
    RETURNING s.task_id, s.seq, s.step_id
), counts AS (
    SELECT c.task_id, c.seq, count(*)::smallint AS n
      FROM done JOIN task_steps c ON c.task_id = done.task_id AND done.step_id = ANY (c.depends_on)
     GROUP BY c.task_id, c.seq
), """  # noqa: S608 - constants only
    + NEXT_DUE
    + """, finished AS (
    SELECT req.task_id, max(req.result) AS result
      FROM req JOIN done ON done.task_id = req.task_id AND done.seq = req.seq
     GROUP BY req.task_id
), task AS (
    UPDATE tasks t
       SET updated_at = clock_timestamp(),
           status = CASE WHEN f.result IS NOT NULL THEN 'completed' ELSE t.status END,
           result = COALESCE(f.result, t.result)
      FROM finished f
     WHERE t.task_id = f.task_id AND t.status = 'processing'
    RETURNING t.task_id, t.status
), ready AS (
    SELECT task_id, array_agg(seq ORDER BY seq) AS seqs FROM nxt WHERE ready GROUP BY task_id
)
SELECT req.i, done.task_id IS NOT NULL AS recorded, task.status AS task_status,
       COALESCE(ready.seqs, '{}') AS ready
  FROM req
  LEFT JOIN done ON done.task_id = req.task_id AND done.seq = req.seq
  LEFT JOIN task ON task.task_id = req.task_id
  LEFT JOIN ready ON ready.task_id = req.task_id
 ORDER BY req.i
"""
)


@dataclass(frozen=True, slots=True)
class Outcome:
    recorded: bool  # this call wrote the output (False: someone else did, or cancelled)
    ready: tuple[int, ...]  # steps now due: enqueue them
    task_status: str | None  # the task's status after this write, when it changed


async def complete(pool: asyncpg.Pool, done: list[Completion]) -> list[Outcome]:
    """Record many steps' outputs in one statement (only steps still processing)."""
    rows = await _fetch(
        pool,
        _COMPLETE,
        [c.task_id for c in done],
        [c.seq for c in done],
        [c.output for c in done],
        [c.result for c in done],
    )
    seen: set[tuple[uuid.UUID, int]] = set()
    enqueued: set[tuple[uuid.UUID, int]] = set()
    out = []
    for c, r in zip(done, rows, strict=True):
        first = (c.task_id, c.seq) not in seen
        seen.add((c.task_id, c.seq))
        # the steps a batch made due are listed for every completion of their task in it:
        # only the first of them enqueues each; a step run twice at once records once
        ready = tuple(q for q in r["ready"] if (c.task_id, q) not in enqueued) if r["recorded"] else ()
        enqueued.update((c.task_id, q) for q in ready)
        out.append(Outcome(r["recorded"], ready, r["task_status"]) if first else Outcome(False, (), None))
    return out


async def task_tokens(pool: asyncpg.Pool, task_id: uuid.UUID) -> int:
    """Model tokens a task spent: on its plan and in its steps."""
    return int(
        await pool.fetchval(
            "SELECT COALESCE(t.plan_prompt_tokens, 0) + COALESCE(t.plan_completion_tokens, 0)"
            "     + COALESCE((SELECT sum(COALESCE((s.output->'usage'->>'prompt_tokens')::int, 0)"
            "                         + COALESCE((s.output->'usage'->>'completion_tokens')::int, 0))"
            "                   FROM task_steps s WHERE s.task_id = t.task_id), 0)"
            "  FROM tasks t WHERE t.task_id = $1",
            task_id,
        )
        or 0
    )


async def complete_replan(
    pool: asyncpg.Pool, task_id: uuid.UUID, seq: int, output: dict[str, Any], added: list[PlanStep]
) -> Outcome:
    """Record a re-plan and the steps it added, in one transaction: the new steps join the
    plan (those reading only finished steps are due at once), and the final step, which
    waited for the re-plan, now also waits for the new steps that nothing else reads."""
    async with pool.acquire() as conn, conn.transaction():
        # the task's row lock orders this against a cancel
        live = await conn.fetchval(
            "SELECT status IN ('queued', 'processing') FROM tasks WHERE task_id = $1 FOR UPDATE", task_id
        )
        replan_id = await conn.fetchval(
            "UPDATE task_steps SET status = 'completed', output = $3, error = NULL,"
            "       finished_at = clock_timestamp()"
            " WHERE task_id = $1 AND seq = $2 AND status = 'processing' RETURNING step_id",
            task_id,
            seq,
            output,
        )
        if replan_id is None:
            return Outcome(False, (), None)
        if not live:
            added = []
        ready = await _insert_added(conn, task_id, added) if added else []
        ends = [s.id for s in finals(added)]
        final = await conn.fetchrow(
            "UPDATE task_steps SET depends_on = depends_on || $3::text[], waiting = waiting - 1 + $4,"
            "       enqueued_at = CASE WHEN waiting - 1 + $4 = 0 AND status = 'queued' THEN clock_timestamp()"
            "                          ELSE enqueued_at END"
            " WHERE task_id = $1 AND $2 = ANY (depends_on)"
            " RETURNING seq, waiting = 0 AND status = 'queued' AS ready",
            task_id,
            replan_id,
            ends,
            len(ends),
        )
        if final is not None and final["ready"]:
            ready.append(final["seq"])
        await conn.execute(
            "UPDATE tasks SET replanned_steps = $2, updated_at = clock_timestamp() WHERE task_id = $1",
            task_id,
            len(added),
        )
    return Outcome(True, tuple(ready), None)


async def _insert_added(conn: db.Conn, task_id: uuid.UUID, added: list[PlanStep]) -> list[int]:
    """Insert the steps after the plan's last seq; the seqs of those due at once."""
    first = await conn.fetchval("SELECT max(seq) + 1 FROM task_steps WHERE task_id = $1", task_id)
    ids = {s.id for s in added}
    rows = [(first + n, s, sum(1 for d in s.depends_on if d in ids)) for n, s in enumerate(added)]
    await conn.executemany(
        "INSERT INTO task_steps (task_id, seq, step_id, type, params, depends_on, optional, waiting,"
        "                        enqueued_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::smallint,"
        "         CASE WHEN $8::smallint = 0 THEN clock_timestamp() END)",
        [(task_id, q, s.id, s.type, s.params, list(s.depends_on), s.optional, w) for q, s, w in rows],
    )
    return [q for q, _, w in rows if w == 0]
