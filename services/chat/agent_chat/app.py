"""The chat service's HTTP API (port 3001): POST /chat (JSON, or Server-Sent Events with
`Accept: text/event-stream`) and GET /chat/history/{user_id}. The user is the X-User-Id
the gateway sends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from agent_chat import sse, store
from agent_chat.responses import llm_error
from agent_chat.schemas import ChatIn, ChatOut, HistoryItem
from agent_chat.service import ChatService
from agent_chat.settings import ChatSettings
from agent_chat.tools import Orchestrator
from agent_common import db, tracing
from agent_common.identity import UserId
from agent_common.llm import LLMError, make_provider
from agent_common.llm.budget import TokenBudget
from agent_common.logs import setup_logging
from agent_common.redisconn import create_redis
from agent_common.validation import clean_text
from agent_common.web import ORJSONResponse, setup_service

log = logging.getLogger("agent.chat")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed JSON, or an X-User-Id with unprintable characters"},
    401: {"description": "no user"},
    413: {"description": "body too large"},
    503: {"description": "database unavailable, or the model is rate limited or unreachable"},
}
_BUDGET: dict[int | str, dict[str, Any]] = {
    429: {"description": "the session's daily LLM token budget is spent (Retry-After: until 00:00 UTC)"},
}
_MODEL_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "empty, over-long or mistyped message"},
    502: {"description": "the model provider failed (bad key, 5xx, broken answer, refused request)"},
    504: {"description": "the model provider did not answer in time"},
}


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.create_pool(settings)
        # /ready and the token budget (two short calls per model call)
        app.state.redis = create_redis(settings, max_connections=32)
        orchestrator = Orchestrator(settings.orchestrator_url, timeout_s=settings.chat_tool_timeout_s,
                                    max_connections=settings.chat_orchestrator_max_connections)
        budget = TokenBudget(app.state.redis, settings.llm_daily_token_budget,
                             on_redis_error=settings.llm_budget_on_redis_error)
        app.state.chat = ChatService(settings, pool, make_provider(settings), orchestrator, budget)
        log.info("chat answers with %s (model %s)", app.state.chat.provider_name, settings.model_name())
        yield
        await app.state.chat.close()
        await pool.close()
        await app.state.redis.aclose()

    app = FastAPI(title="agent-system chat", version="0.1.0", lifespan=lifespan,
                  default_response_class=ORJSONResponse)
    setup_service(app, service="chat", max_body_bytes=settings.max_body_bytes, checks={
        "postgres": lambda: db.ping(app.state.chat.pool),
        "redis": lambda: app.state.redis.ping(),
    })

    @app.post("/chat", response_model=ChatOut, responses={**_ERRORS, **_MODEL_ERRORS, **_BUDGET, 200: {
        "content": {"text/event-stream": {}}, "description": "the answer (or, streamed, its events)"}})
    async def chat(body: ChatIn, user: UserId, request: Request) -> Any:
        message = clean_text(body.message, "message", settings.chat_message_max_chars)
        service: ChatService = app.state.chat
        exchange = await service.begin(user, message)
        if "text/event-stream" in request.headers.get("accept", ""):
            return await sse.respond(service, exchange)
        try:
            async for _ in exchange.turn.events(streaming=False):
                pass
        except LLMError as exc:
            await service.fail(exchange, exc.detail, exc.kind)
            return llm_error(exc)
        return await service.finish(exchange)

    @app.get("/chat/history/{user_id}", response_model=list[HistoryItem], responses={
        **_ERRORS, 404: {"description": "not the caller's own history"}})
    async def history(
        user_id: str, user: UserId,
        # a default value, not Annotated: annotations are strings here and cannot see `settings`
        limit: int = Query(settings.chat_history_default, ge=1, le=settings.chat_history_max),  # noqa: B008
    ) -> list[dict[str, Any]] | Response:
        if user_id != user:  # the same answer as for a user who never chatted: nothing to learn
            raise HTTPException(404, "no chat history for this user")
        return await store.history(app.state.chat.pool, user, limit)

    return app
