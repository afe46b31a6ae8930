"""The frontend's route dependencies: its settings, the page's files and the pooled HTTP
client of the /api proxy (opened by the lifespan)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from agent_frontend.assets import Assets
from agent_frontend.settings import FrontendSettings


async def get_settings(request: Request) -> FrontendSettings:
    return request.app.state.settings


async def get_assets(request: Request) -> Assets:
    return request.app.state.assets


async def get_client(request: Request) -> httpx.AsyncClient:
    return request.app.state.client


SettingsDep = Annotated[FrontendSettings, Depends(get_settings)]
AssetsDep = Annotated[Assets, Depends(get_assets)]
ClientDep = Annotated[httpx.AsyncClient, Depends(get_client)]
