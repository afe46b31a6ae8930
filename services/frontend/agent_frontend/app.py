"""The frontend's HTTP app (port 3000): the page at /, its files under /assets/<version>/,
/api/* proxied to the gateway for local runs, and /health, /ready, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from agent_common import tracing
from agent_common.logs import setup_logging
from agent_common.web import ORJSONResponse, setup_service
from agent_frontend import proxy
from agent_frontend.assets import Assets
from agent_frontend.security import SecurityHeaders
from agent_frontend.settings import FrontendSettings

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class StaticFilesMissing(RuntimeError):
    pass


def create_app(settings: FrontendSettings | None = None, assets: Assets | None = None) -> FastAPI:
    settings = settings or FrontendSettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)
    assets = assets or Assets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.client = proxy.create_client(settings)
        yield
        await app.state.client.aclose()

    app = FastAPI(title="agent-system frontend", version="0.1.0", lifespan=lifespan,
                  default_response_class=ORJSONResponse, docs_url=None, redoc_url=None, openapi_url=None)

    async def files_readable() -> None:
        if not assets.readable():
            raise StaticFilesMissing(str(assets.root))

    # ready means "can serve the page": a gateway outage is shown on the page, not hidden by
    # taking the page away too
    setup_service(app, service="frontend", max_body_bytes=settings.max_body_bytes,
                  checks={"static": files_readable})
    app.add_middleware(SecurityHeaders)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index(request: Request) -> Response:
        return assets.index(request)

    @app.api_route("/assets/{version}/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def asset(request: Request, version: str, path: str) -> Response:
        return await assets.asset(request, version, path)

    if settings.proxy_api:
        @app.api_route("/api/{path:path}", methods=PROXY_METHODS, include_in_schema=False)
        async def api(request: Request, path: str) -> Response:
            return await proxy.forward(app.state.client, request, settings.proxy_read_timeout_s)

    return app
