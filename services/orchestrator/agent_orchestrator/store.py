"""The orchestrator's SQL: tasks and their steps in PostgreSQL (the record of truth)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from agent_orchestrator.planner import PlannedStep

_STEPS_JSON = """
    COALESCE((
        SELECT json_agg(json_build_object(
            'type', s.type, 'status', s.status, 'error', s.error, 'attempts', s.attempts,
            'started_at', s.started_at, 'finished_at', s.finished_at,
            'duration_ms', (extract(epoch FROM s.finished_at - s.started_at) * 1000)::int
        ) ORDER BY s.seq)
        FROM task_steps s WHERE s.task_id = t.task_id
    ), '[]'::json) AS steps
"""
_TASK_COLUMNS = f"""
    t.task_id, t.status, t.title, t.description, t.result, t.error, t.created_at, t.updated_at,
    {_STEPS_JSON}
"""


@dataclass(frozen=True, slots=True)
class NewTask:
    task_id: uuid.UUID
    user_id: str
    title: str
    description: str
    steps: list[PlannedStep]


# Many tasks and all their steps in one statement: one round trip and one commit for the
# batch, still all or nothing. The first step of each task is marked enqueued now, so the
# reconciler enqueues it if the process dies before XADD.
_CREATE = """
WITH task AS (
    INSERT INTO tasks (task_id, user_id, title, description)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
)
INSERT INTO task_steps (task_id, seq, type, params, enqueued_at)
SELECT s.task_id, s.seq, s.type, s.params, CASE WHEN s.seq = 0 THEN clock_timestamp() END
  FROM unnest($5::uuid[], $6::smallint[], $7::text[], $8::jsonb[]) AS s(task_id, seq, type, params)
"""


async def create_tasks(pool: asyncpg.Pool, tasks: list[NewTask]) -> list[None]:
    steps = [(t.task_id, seq, step) for t in tasks for seq, step in enumerate(t.steps)]
    await pool.execute(
        _CREATE,
        [t.task_id for t in tasks], [t.user_id for t in tasks], [t.title for t in tasks],
        [t.description for t in tasks],
        [s[0] for s in steps], [s[1] for s in steps], [s[2].type for s in steps],
        [s[2].params for s in steps],
    )
    return [None] * len(tasks)


# built once from constants only; user values are always bind parameters
_GET_TASK = f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.task_id = $1 AND t.user_id = $2"  # noqa: S608
_LIST_TASKS = (
    f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.user_id = $1"  # noqa: S608
    " ORDER BY t.created_at DESC, t.task_id LIMIT $2"
)


async def get_task(pool: asyncpg.Pool, user_id: str, task_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(_GET_TASK, task_id, user_id)
    return dict(row) if row else None


async def list_tasks(pool: asyncpg.Pool, user_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(_LIST_TASKS, user_id, limit)
    return [dict(r) for r in rows]


async def cancel_task(pool: asyncpg.Pool, user_id: str, task_id: uuid.UUID) -> str | None:
    """Cancel a queued or running task and the steps not yet run.

    Returns the task's status afterwards ('cancelled' when this call cancelled it), or None
    when the user has no such task."""
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval(
            "SELECT status FROM tasks WHERE task_id = $1 AND user_id = $2 FOR UPDATE", task_id, user_id
        )
        if status not in ("queued", "processing"):
            return status
        await conn.execute(
            "UPDATE tasks SET status = 'cancelled', updated_at = clock_timestamp() WHERE task_id = $1",
            task_id,
        )
        await conn.execute(
            "UPDATE task_steps SET status = 'cancelled' WHERE task_id = $1 AND status = 'queued'", task_id
        )
    return "cancelled"
