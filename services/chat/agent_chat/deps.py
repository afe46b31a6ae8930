"""The chat's route dependencies: its settings, the pool (agent_common.deps), the chat service
made for each request from what the lifespan opened (the LLM provider, the orchestrator
client, the token budget), and the bounded size of a history page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from agent_chat.service import ChatService
from agent_chat.settings import ChatSettings
from agent_chat.tools import Orchestrator
from agent_common.deps import PoolDep
from agent_common.llm import Provider
from agent_common.llm.budget import TokenBudget
from agent_common.validation import page_limit


async def get_settings(request: Request) -> ChatSettings:
    return request.app.state.settings


SettingsDep = Annotated[ChatSettings, Depends(get_settings)]


async def get_provider(request: Request) -> Provider | None:
    """The configured LLM provider; None when LLM_PROVIDER is offline."""
    return request.app.state.provider


async def get_orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator


async def get_budget(request: Request) -> TokenBudget:
    return request.app.state.budget


async def get_chat(
    settings: SettingsDep,
    pool: PoolDep,
    provider: Annotated[Provider | None, Depends(get_provider)],
    orchestrator: Annotated[Orchestrator, Depends(get_orchestrator)],
    budget: Annotated[TokenBudget, Depends(get_budget)],
) -> ChatService:
    return ChatService(settings, pool, provider, orchestrator, budget)


ChatDep = Annotated[ChatService, Depends(get_chat)]


_LIMIT = Query(ge=1, description="the latest N messages (CHAT_HISTORY_DEFAULT, at most CHAT_HISTORY_MAX)")


async def history_limit(settings: SettingsDep, limit: Annotated[int | None, _LIMIT] = None) -> int:
    return page_limit(limit, settings.chat_history_default, settings.chat_history_max)


HistoryLimit = Annotated[int, Depends(history_limit)]
