"""The orchestrator's HTTP app (port 8000): its routes are in agent_orchestrator.api, what
they use in agent_orchestrator.deps; the lifespan opens the pool, Redis and the intake."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from redis.exceptions import RedisError

from agent_common import db, queue
from agent_common.redisconn import create_redis
from agent_common.web import create_service_app
from agent_orchestrator import api
from agent_orchestrator.intake import Intake
from agent_orchestrator.planning import Planner
from agent_orchestrator.settings import OrchestratorSettings

log = logging.getLogger("agent.orchestrator")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: OrchestratorSettings = app.state.settings
    pool = app.state.pool = await db.create_pool(settings)
    redis = app.state.redis = create_redis(settings)
    intake = app.state.intake = Intake(
        pool, redis, status_ttl_s=settings.task_status_ttl_s, planner=Planner(settings)
    )
    app.state.checks = {"postgres": partial(db.ping, pool), "redis": redis.ping}
    intake.start()
    try:
        await queue.ensure_group(redis)
    except RedisError as exc:  # not fatal: /ready reports it and workers create the group
        log.warning("could not create the consumer group yet: %s", exc)
    yield
    await intake.stop()
    await pool.close()
    await redis.aclose()


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or OrchestratorSettings(), service="orchestrator", lifespan=lifespan, routers=[api.router]
    )
