"""The gateway's ASGI app: the fast path for the proxied /api routes (agent_gateway.fastpath)
in front of a FastAPI app for its own endpoints (agent_gateway.api, openapi), all inside the
shared request-id/body-limit middleware. The lifespan opens the state (agent_gateway.state)
and runs two housekeeping loops: deleting expired sessions and counting the live ones.

The proxied routes skip FastAPI's routing, dependency and response machinery: on this path
that is most of the cost of a request (figures: services/gateway/README.md "Performance").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from agent_common import db, tracing
from agent_common.logs import setup_logging
from agent_common.web import ORJSONResponse, ServiceMiddleware, install_error_handlers, install_health
from agent_gateway import api, metrics, openapi
from agent_gateway.errors import lookups_refused
from agent_gateway.fastpath import Gateway
from agent_gateway.report import SharedReport
from agent_gateway.settings import GatewaySettings
from agent_gateway.state import GatewayState, LookupRefused

log = logging.getLogger("agent.gateway")

# expired sessions are deleted this long after their expiry, checked this often
SESSION_SWEEP_AFTER_S = 86_400.0
SESSION_SWEEP_EVERY_S = 3_600.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: GatewayState = app.state.gateway
    await state.open()
    app.state.checks = state.ready_checks()
    background = [
        asyncio.create_task(_sweep_sessions(state)),
        asyncio.create_task(_count_sessions(state, state.settings.sessions_gauge_interval_s)),
    ]
    yield
    for task in background:
        task.cancel()
    for task in background:
        with suppress(asyncio.CancelledError):
            await task
    await state.close()


async def _refused_lookups(_: Request, exc: Exception) -> ORJSONResponse:
    assert isinstance(exc, LookupRefused)
    return lookups_refused(exc.verdict)


def create_app(settings: GatewaySettings | None = None) -> ASGIApp:
    settings = settings or GatewaySettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)
    state = GatewayState(settings)
    api_app = FastAPI(
        title="agent-system gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    api_app.state.settings = settings
    api_app.state.gateway = state
    api_app.state.report = SharedReport(state)
    install_error_handlers(api_app)
    api_app.add_exception_handler(LookupRefused, _refused_lookups)
    install_health(api_app)
    api_app.include_router(api.router)
    api_app.include_router(openapi.router)
    tracing.instrument_app(api_app)  # sessions, /api/upstreams (the proxied routes make their own spans)
    # X-User-Id from a client is a claim, not a user: the proxy path sets the session's user
    app = ServiceMiddleware(
        Gateway(api_app, state),
        service="gateway",
        max_body_bytes=settings.max_body_bytes,
        trust_user_header=False,
    )
    app.state = state  # type: ignore[attr-defined]  # for tests and /ready: the middleware has no such field
    app.api = api_app  # type: ignore[attr-defined]  # its own endpoints' app: dependency_overrides
    return app


async def _sweep_sessions(state: GatewayState) -> None:
    while True:
        await asyncio.sleep(SESSION_SWEEP_EVERY_S)
        try:
            deleted = await state.sessions.delete_expired(SESSION_SWEEP_AFTER_S)
            if deleted:
                log.info("deleted %d expired sessions", deleted)
        except db.UNAVAILABLE as exc:
            log.warning("could not delete expired sessions: %s", exc)
        except Exception:  # a housekeeping loop outlives its failures
            log.exception("could not delete expired sessions")


async def _count_sessions(state: GatewayState, every_s: float) -> None:
    """Refresh gateway_sessions_active: one count query per interval, not per scrape."""
    while True:
        try:
            metrics.SESSIONS_ACTIVE.set(await state.sessions.count_live())
        except db.UNAVAILABLE as exc:
            log.debug("could not count sessions: %s", exc.__class__.__name__)
        except Exception:  # a housekeeping loop outlives its failures
            log.exception("could not count sessions")
        await asyncio.sleep(every_s)
