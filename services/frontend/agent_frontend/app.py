"""The frontend's HTTP app (port 3000): the page and its files, /api/* proxied to the gateway
for local runs (agent_frontend.api), and /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent_common.web import create_service_app
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
    routers = [api.page, api.api_proxy] if settings.proxy_api else [api.page]
    app = create_service_app(
        settings,
        service="frontend",
        lifespan=lifespan,
        routers=routers,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.assets = assets = assets or Assets()
    # ready means "can serve the page": a gateway outage is shown on the page, not hidden by
    # taking the page away too
    app.state.checks = {"static": assets.check}
    app.add_middleware(SecurityHeaders)
    return app
