"""The frontend's routes: the page at /, its files under /assets/<version>/, and (for local
runs) /api/* proxied to the gateway."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from agent_frontend import proxy
from agent_frontend.deps import AssetsDep, ClientDep, SettingsDep

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

page = APIRouter(include_in_schema=False)
# on Kubernetes the HTTPRoute sends /api to the gateway directly: this router is left out
api_proxy = APIRouter(include_in_schema=False)


@page.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request, assets: AssetsDep) -> Response:
    return assets.index(request)


@page.api_route("/assets/{version}/{path:path}", methods=["GET", "HEAD"])
async def asset(request: Request, version: str, path: str, assets: AssetsDep) -> Response:
    return await assets.asset(request, version, path)


@api_proxy.api_route("/api/{path:path}", methods=PROXY_METHODS)
async def api(request: Request, path: str, client: ClientDep, settings: SettingsDep) -> Response:
    return await proxy.forward(client, request, settings.proxy_read_timeout_s)
