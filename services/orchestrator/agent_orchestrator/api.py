"""The orchestrator's routes: POST /task, GET /task/{id}, GET /tasks, POST /task/{id}/cancel
and GET /tools. The user is the X-User-Id the gateway sends."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from redis.exceptions import RedisError

from agent_common import queue, tools
from agent_common.identity import UserId
from agent_common.validation import clean_text
from agent_orchestrator import store
from agent_orchestrator.deps import IntakeDep, PageLimit, PoolDep, RedisDep, SettingsDep
from agent_orchestrator.schemas import TaskCreated, TaskIn, TaskOut, ToolOut

log = logging.getLogger("agent.orchestrator")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed JSON, or an X-User-Id with unprintable characters"},
    401: {"description": "no user"},
    404: {"description": "no such task for this user"},
    413: {"description": "body too large"},
    503: {"description": "database or queue unavailable"},
}

router = APIRouter()


@router.post("/task", status_code=202, response_model=TaskCreated, responses=_ERRORS)
async def create_task(body: TaskIn, user: UserId, settings: SettingsDep, intake: IntakeDep) -> dict[str, Any]:
    title = clean_text(body.title, "title", settings.task_title_max_chars)
    description = clean_text(body.description, "description", settings.task_description_max_chars)
    task_id = await intake.submit(user, title, description)
    return {"task_id": task_id, "status": "queued"}


@router.get("/tools", response_model=list[ToolOut], responses={400: _ERRORS[400], 401: _ERRORS[401]})
async def list_tools(user: UserId) -> list[dict[str, Any]]:
    """The tool registry: what a plan may use, each tool's parameters (JSON Schema), the
    kinds of input it reads and the output it gives."""
    return tools.catalogue()


@router.get("/task/{task_id}", response_model=TaskOut, responses=_ERRORS)
async def get_task(task_id: UUID, user: UserId, pool: PoolDep) -> dict[str, Any]:
    task = await store.get_task(pool, user, task_id)
    if task is None:
        raise HTTPException(404, "task not found")
    return task


@router.get("/tasks", response_model=list[TaskOut], responses=_ERRORS)
async def list_tasks(user: UserId, limit: PageLimit, pool: PoolDep) -> list[dict[str, Any]]:
    return await store.list_tasks(pool, user, limit)


@router.post(
    "/task/{task_id}/cancel",
    response_model=TaskOut,
    responses={**_ERRORS, 409: {"description": "the task has already finished"}},
)
async def cancel_task(
    task_id: UUID, user: UserId, pool: PoolDep, redis: RedisDep, settings: SettingsDep
) -> dict[str, Any]:
    status = await store.cancel_task(pool, user, task_id)
    if status is None:
        raise HTTPException(404, "task not found")
    if status != "cancelled":
        raise HTTPException(409, f"task already {status}")
    try:
        await redis.set(queue.status_key(str(task_id)), "cancelled", ex=settings.task_status_ttl_s)
    except RedisError as exc:
        log.warning("could not mirror status of %s: %s", task_id, exc)
    task = await store.get_task(pool, user, task_id)
    assert task is not None
    return task
