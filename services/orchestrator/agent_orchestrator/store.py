"""The orchestrator's SQL: tasks and their steps in PostgreSQL (the record of truth)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from agent_common.plans import PlanStep

# a completed step's output as the API shows it: without the bulky fields (a page's
# source, an article's text, the summary's sentences), which stay in the database for the
# steps that read them
_STEPS_JSON = """
    COALESCE((
        SELECT json_agg(json_build_object(
            'id', s.step_id, 'type', s.type, 'status', s.status, 'error', s.error,
            'attempts', s.attempts, 'depends_on', s.depends_on, 'optional', s.optional,
            'params', s.params, 'started_at', s.started_at, 'finished_at', s.finished_at,
            'duration_ms', (extract(epoch FROM s.finished_at - s.started_at) * 1000)::int,
            'output', CASE WHEN s.status = 'completed' THEN s.output - 'html' - 'text' - 'sentences' END
        ) ORDER BY s.seq)
        FROM task_steps s WHERE s.task_id = t.task_id
    ), '[]'::json) AS steps
"""
_PLAN_JSON = """
    CASE WHEN t.plan_model IS NULL THEN NULL ELSE json_build_object(
        'model', t.plan_model, 'prompt_tokens', t.plan_prompt_tokens,
        'completion_tokens', t.plan_completion_tokens, 'cost_usd', t.plan_cost_usd,
        'latency_ms', t.plan_latency_ms, 'replanned_steps', t.replanned_steps) END AS plan
"""
_TASK_COLUMNS = f"""
    t.task_id, t.status, t.title, t.description, t.result, t.error, t.created_at, t.updated_at,
    t.plan_source, t.plan_note, {_PLAN_JSON}, {_STEPS_JSON}
"""


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """How a task was planned: by the rules, or by a model (and what that cost)."""

    source: str = "rules"
    note: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None
    latency_ms: int | None = None


PLAIN = PlanInfo()  # planned by the rules, nothing to note (frozen: one instance serves all)


@dataclass(frozen=True, slots=True)
class NewTask:
    task_id: uuid.UUID
    user_id: str
    title: str
    description: str
    steps: list[PlanStep]  # in an order that runs each after what it depends on
    plan: PlanInfo = PLAIN

    def first_steps(self) -> list[int]:
        """The seqs of the steps that depend on nothing: they are enqueued at once."""
        return [seq for seq, step in enumerate(self.steps) if not step.depends_on]


# Many tasks and all their steps in one statement: one round trip and one commit for the
# batch, still all or nothing. The steps that depend on nothing are marked enqueued now, so
# the reconciler enqueues them if the process dies before XADD. A step's dependencies travel
# as one comma-separated text (ids never hold a comma): unnest cannot carry ragged arrays.
_STEPS = """
INSERT INTO task_steps (task_id, seq, step_id, type, params, depends_on, optional, waiting, enqueued_at)
SELECT s.task_id, s.seq, s.step_id, s.type, s.params, s.deps, s.optional, cardinality(s.deps),
       CASE WHEN cardinality(s.deps) = 0 THEN clock_timestamp() END
  FROM (SELECT u.task_id, u.seq, u.step_id, u.type, u.params, string_to_array(u.deps, ',') AS deps,
               u.optional
          FROM unnest($5::uuid[], $6::smallint[], $7::text[], $8::text[], $9::jsonb[], $10::text[],
                      $11::bool[]) AS u(task_id, seq, step_id, type, params, deps, optional)) AS s
"""
_CREATE = (
    """
WITH task AS (
    INSERT INTO tasks (task_id, user_id, title, description)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
)
"""  # noqa: S608 - constants only
    + _STEPS
)
# the same with how each task was planned, when a batch holds one that is not the rules'
# plain plan (every array element costs the driver's encoder a few type checks)
_CREATE_PLANNED = (
    """
WITH task AS (
    INSERT INTO tasks (task_id, user_id, title, description, plan_source, plan_note, plan_model,
                       plan_prompt_tokens, plan_completion_tokens, plan_cost_usd, plan_latency_ms)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $12::text[], $13::text[],
                         $14::text[], $15::int[], $16::int[], $17::numeric[], $18::int[])
)
"""  # noqa: S608 - constants only
    + _STEPS
)


async def create_tasks(pool: asyncpg.Pool, tasks: list[NewTask]) -> list[None]:
    steps = [(t.task_id, seq, step) for t in tasks for seq, step in enumerate(t.steps)]
    args = [
        [t.task_id for t in tasks],
        [t.user_id for t in tasks],
        [t.title for t in tasks],
        [t.description for t in tasks],
        [s[0] for s in steps],
        [s[1] for s in steps],
        [s[2].id for s in steps],
        [s[2].type for s in steps],
        [s[2].params for s in steps],
        [",".join(s[2].depends_on) for s in steps],
        [s[2].optional for s in steps],
    ]
    plans = [t.plan for t in tasks]
    if all(p is PLAIN or p == PLAIN for p in plans):
        await pool.execute(_CREATE, *args)
    else:
        await pool.execute(
            _CREATE_PLANNED,
            *args,
            [p.source for p in plans],
            [p.note for p in plans],
            [p.model for p in plans],
            [p.prompt_tokens for p in plans],
            [p.completion_tokens for p in plans],
            [p.cost_usd for p in plans],
            [p.latency_ms for p in plans],
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
    """Cancel a queued or running task and the steps not yet run (the workers stop the
    steps in hand when they see the task's status).

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
