"""The frontend's HTTP app (port 3000): the page and its files, /api/* proxied to the gateway
for local runs (agent_frontend.api), and /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent_common import tracing
from agent_common.logs import setup_logging
from agent_common.web import ORJSONResponse, setup_service
from agent_frontend import api, proxy
from agent_frontend.assets import Assets
from agent_frontend.security import SecurityHeaders
from agent_frontend.settings import FrontendSettings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.client = proxy.create_client(app.state.settings)
    yield
    await app.state.client.aclose()


def create_app(settings: FrontendSettings | None = None, assets: Assets | None = None) -> FastAPI:
    settings = settings or FrontendSettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)
    app = FastAPI(title="agent-system frontend", version="0.1.0", lifespan=lifespan,
                  default_response_class=ORJSONResponse, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.assets = assets = assets or Assets()
    # ready means "can serve the page": a gateway outage is shown on the page, not hidden by
    # taking the page away too
    app.state.checks = {"static": assets.check}
    setup_service(app, service="frontend", max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.include_router(api.page)
    if settings.proxy_api:
        app.include_router(api.api_proxy)
    return app
