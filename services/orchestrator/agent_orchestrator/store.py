"""The orchestrator's SQL: tasks and their steps in PostgreSQL (the record of truth)."""

from __future__ import annotations

import uuid
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


_CREATE = """
WITH task AS (
    INSERT INTO tasks (task_id, user_id, title, description) VALUES ($1, $2, $3, $4)
)
INSERT INTO task_steps (task_id, seq, type, params, enqueued_at)
SELECT $1, s.seq, s.type, s.params, CASE WHEN s.seq = 0 THEN clock_timestamp() END
  FROM unnest($5::smallint[], $6::text[], $7::jsonb[]) AS s(seq, type, params)
"""


async def create_task(
    pool: asyncpg.Pool, user_id: str, title: str, description: str, steps: list[PlannedStep]
) -> uuid.UUID:
    """Write the task and all its steps in one statement (one round trip, one transaction);
    the first step is marked enqueued now, so the reconciler enqueues it if the process
    dies before XADD."""
    task_id = uuid.uuid4()
    await pool.execute(
        _CREATE, task_id, user_id, title, description,
        list(range(len(steps))), [s.type for s in steps], [s.params for s in steps],
    )
    return task_id


async def record_stream_id(pool: asyncpg.Pool, task_id: uuid.UUID, seq: int, stream_id: str) -> None:
    await pool.execute(
        "UPDATE task_steps SET stream_id = $3 WHERE task_id = $1 AND seq = $2", task_id, seq, stream_id
    )


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
