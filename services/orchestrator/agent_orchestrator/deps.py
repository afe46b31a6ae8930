"""The orchestrator's route dependencies: its settings, the pool and Redis (agent_common.deps),
the intake that plans, stores and enqueues tasks, and the bounded page size of GET /tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from agent_common.deps import PoolDep, RedisDep
from agent_common.validation import page_limit
from agent_orchestrator.intake import Intake
from agent_orchestrator.settings import OrchestratorSettings

__all__ = ["IntakeDep", "PageLimit", "PoolDep", "RedisDep", "SettingsDep"]


async def get_settings(request: Request) -> OrchestratorSettings:
    return request.app.state.settings


SettingsDep = Annotated[OrchestratorSettings, Depends(get_settings)]


async def get_intake(request: Request) -> Intake:
    return request.app.state.intake


IntakeDep = Annotated[Intake, Depends(get_intake)]


_LIMIT = Query(ge=1, description="how many tasks, newest first (TASKS_PAGE_DEFAULT, at most TASKS_PAGE_MAX)")


async def tasks_limit(settings: SettingsDep, limit: Annotated[int | None, _LIMIT] = None) -> int:
    return page_limit(limit, settings.tasks_page_default, settings.tasks_page_max)


PageLimit = Annotated[int, Depends(tasks_limit)]
