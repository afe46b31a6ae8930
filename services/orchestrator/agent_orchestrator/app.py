"""The orchestrator's HTTP API (port 8000): POST /task, GET /task/{id}, GET /tasks,
POST /task/{id}/cancel, GET /tools. The user is the X-User-Id the gateway sends."""


import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, HTTPException, Query
from redis.exceptions import RedisError

from agent_common import db, queue, tools, tracing
from agent_common.identity import UserId
from agent_common.logs import setup_logging
from agent_common.redisconn import create_redis
from agent_common.validation import clean_text
from agent_common.web import ORJSONResponse, setup_service
from agent_orchestrator import store
from agent_orchestrator.intake import Intake
from agent_orchestrator.planning import Planner
from agent_orchestrator.schemas import TaskCreated, TaskIn, TaskOut, ToolOut
from agent_orchestrator.settings import OrchestratorSettings

log = logging.getLogger("agent.orchestrator")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed JSON, or an X-User-Id with unprintable characters"},
    401: {"description": "no user"},
    404: {"description": "no such task for this user"},
    413: {"description": "body too large"},
    503: {"description": "database or queue unavailable"},
}


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(settings)
        app.state.redis = create_redis(settings)
        app.state.intake = Intake(app.state.pool, app.state.redis, status_ttl_s=settings.task_status_ttl_s,
                                  planner=Planner(settings))
        app.state.intake.start()
        try:
            await queue.ensure_group(app.state.redis)
        except RedisError as exc:  # not fatal: /ready reports it and workers create the group
            log.warning("could not create the consumer group yet: %s", exc)
        yield
        await app.state.intake.stop()
        await app.state.pool.close()
        await app.state.redis.aclose()

    app = FastAPI(title="agent-system orchestrator", version="0.1.0", lifespan=lifespan,
                  default_response_class=ORJSONResponse)
    setup_service(app, service="orchestrator", max_body_bytes=settings.max_body_bytes, checks={
        "postgres": lambda: db.ping(app.state.pool),
        "redis": lambda: app.state.redis.ping(),
    })

    @app.post("/task", status_code=202, response_model=TaskCreated,
              responses=_ERRORS)
    async def create_task(body: TaskIn, user: UserId) -> dict[str, Any]:
        title = clean_text(body.title, "title", settings.task_title_max_chars)
        description = clean_text(body.description, "description", settings.task_description_max_chars)
        task_id = await app.state.intake.submit(user, title, description)
        return {"task_id": task_id, "status": "queued"}

    @app.get("/tools", response_model=list[ToolOut], responses={400: _ERRORS[400], 401: _ERRORS[401]})
    async def list_tools(user: UserId) -> list[dict[str, Any]]:
        """The tool registry: what a plan may use, each tool's parameters (JSON Schema), the
        kinds of input it reads and the output it gives."""
        return tools.catalogue()

    @app.get("/task/{task_id}", response_model=TaskOut, responses=_ERRORS)
    async def get_task(task_id: UUID, user: UserId) -> dict[str, Any]:
        task = await store.get_task(app.state.pool, user, task_id)
        if task is None:
            raise HTTPException(404, "task not found")
        return task

    @app.get("/tasks", response_model=list[TaskOut], responses=_ERRORS)
    async def list_tasks(
        user: UserId,
        limit: Annotated[int, Query(ge=1, le=settings.tasks_page_max)] = settings.tasks_page_default,
    ) -> list[dict[str, Any]]:
        return await store.list_tasks(app.state.pool, user, limit)

    @app.post("/task/{task_id}/cancel", response_model=TaskOut,
              responses={**_ERRORS, 409: {"description": "the task has already finished"}})
    async def cancel_task(task_id: UUID, user: UserId) -> dict[str, Any]:
        status = await store.cancel_task(app.state.pool, user, task_id)
        if status is None:
            raise HTTPException(404, "task not found")
        if status != "cancelled":
            raise HTTPException(409, f"task already {status}")
        await _mirror_status(app, settings, task_id, "cancelled")
        task = await store.get_task(app.state.pool, user, task_id)
        assert task is not None
        return task

    return app


async def _mirror_status(app: FastAPI, settings: OrchestratorSettings, task_id: UUID, status: str) -> None:
    try:
        await app.state.redis.set(queue.status_key(str(task_id)), status, ex=settings.task_status_ttl_s)
    except RedisError as exc:
        log.warning("could not mirror status of %s: %s", task_id, exc)
