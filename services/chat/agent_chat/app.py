"""The chat service's HTTP app (port 3001): its routes are in agent_chat.api, what they use
in agent_chat.deps; the lifespan opens the pool, Redis, the LLM provider, the orchestrator
client (the model's tools) and the token budget."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from agent_chat import api
from agent_chat.settings import ChatSettings
from agent_chat.tools import Orchestrator
from agent_common import db
from agent_common.llm import make_provider
from agent_common.llm.budget import TokenBudget
from agent_common.redisconn import create_redis
from agent_common.web import create_service_app

log = logging.getLogger("agent.chat")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ChatSettings = app.state.settings
    state = app.state
    pool = state.pool = await db.create_pool(settings)
    # /ready and the token budget (two short calls per model call)
    redis = state.redis = create_redis(settings, max_connections=32)
    state.orchestrator = Orchestrator(
        settings.orchestrator_url,
        timeout_s=settings.chat_tool_timeout_s,
        max_connections=settings.chat_orchestrator_max_connections,
    )
    state.budget = TokenBudget(
        redis, settings.llm_daily_token_budget, on_redis_error=settings.llm_budget_on_redis_error
    )
    provider = state.provider = make_provider(settings)
    state.checks = {"postgres": partial(db.ping, pool), "redis": redis.ping}
    log.info(
        "chat answers with %s (model %s)", provider.name if provider else "offline", settings.model_name()
    )
    yield
    if provider:
        await provider.close()
    await state.orchestrator.close()
    await pool.close()
    await redis.aclose()


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ChatSettings(), service="chat", lifespan=lifespan, routers=[api.router]
    )
