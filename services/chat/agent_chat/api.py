"""The chat's routes: POST /chat (JSON, or Server-Sent Events with `Accept:
text/event-stream`) and GET /chat/history/{user_id}. The user is the X-User-Id the gateway
sends."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from agent_chat import sse, store
from agent_chat.deps import ChatDep, HistoryLimit, SettingsDep
from agent_chat.responses import llm_error
from agent_chat.schemas import ChatIn, ChatOut, HistoryItem
from agent_common.deps import PoolDep
from agent_common.identity import UserId
from agent_common.llm import LLMError
from agent_common.validation import clean_text

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

router = APIRouter()


@router.post(
    "/chat",
    response_model=ChatOut,
    responses={
        **_ERRORS,
        **_MODEL_ERRORS,
        **_BUDGET,
        200: {"content": {"text/event-stream": {}}, "description": "the answer (or, streamed, its events)"},
    },
)
async def chat(body: ChatIn, user: UserId, request: Request, settings: SettingsDep, service: ChatDep) -> Any:
    message = clean_text(body.message, "message", settings.chat_message_max_chars)
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


@router.get(
    "/chat/history/{user_id}",
    response_model=list[HistoryItem],
    responses={**_ERRORS, 404: {"description": "not the caller's own history"}},
)
async def history(user_id: str, user: UserId, limit: HistoryLimit, pool: PoolDep) -> list[dict[str, Any]]:
    if user_id != user:  # the same answer as for a user who never chatted: nothing to learn
        raise HTTPException(404, "no chat history for this user")
    return await store.history(pool, user, limit)
