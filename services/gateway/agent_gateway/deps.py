"""The route dependencies of the gateway's own endpoints (not the proxied routes, which take
the plain-ASGI fast path in agent_gateway.fastpath): its settings, the state its lifespan
opened (pool, Redis, session store, rate limiter, upstream pools), the upstreams report and
the caller's session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from agent_gateway.errors import NO_SESSION, NO_SESSION_HEADERS
from agent_gateway.report import SharedReport
from agent_gateway.sessions import Session
from agent_gateway.settings import GatewaySettings
from agent_gateway.state import GatewayState


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway


async def get_report(request: Request) -> SharedReport:
    return request.app.state.report


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
StateDep = Annotated[GatewayState, Depends(get_state)]
ReportDep = Annotated[SharedReport, Depends(get_report)]


async def current_session(request: Request, state: StateDep) -> Session:
    """The caller's live session (bearer token or cookie), else 401."""
    session = await state.authenticate(request.scope)
    if session is None:
        raise HTTPException(401, NO_SESSION, headers=NO_SESSION_HEADERS)
    return session


SessionDep = Annotated[Session, Depends(current_session)]
