"""The frontend app and a stand-in gateway, each served by uvicorn on loopback in a thread,
so that streaming goes over real sockets (httpx's ASGI transport would buffer it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_common.devstack.processes import free_port
from agent_frontend.app import create_app
from agent_frontend.settings import FrontendSettings
from tests.support.serving import serve


class StandInGateway:
    """Echoes what reached it; streams events one at a time, each released by the test."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/api/echo", self.echo, methods=["GET", "POST", "PUT", "DELETE"]),
                Route("/api/stream", self.stream, methods=["POST", "GET"]),
                Route("/api/session", self.session, methods=["POST"]),
                Route("/api/slow", self.slow),
                Route("/api/weak-csp", self.weak_csp),
            ]
        )

    async def echo(self, request: Request) -> Response:
        return JSONResponse(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": [[k, v] for k, v in request.headers.items()],
                "body": (await request.body()).decode(),
            },
            headers={"x-upstream": "yes"},
        )

    async def stream(self, request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b'data: {"delta": "first"}\n\n'
            while not self.release.is_set():  # the test reads the first event, then releases
                await asyncio.sleep(0.01)
            yield b'data: {"delta": "second"}\n\n'
            yield b'event: done\ndata: {"chat_id": 1}\n\n'

        return StreamingResponse(events(), media_type="text/event-stream")

    async def session(self, request: Request) -> Response:
        response = JSONResponse({"session_token": "t", "user_id": "u"})
        response.set_cookie("session", "t", httponly=True, samesite="lax")
        response.set_cookie("other", "x")
        return response

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(2)
        return JSONResponse({})

    async def weak_csp(self, request: Request) -> Response:
        return JSONResponse({}, headers={"content-security-policy": "default-src *"})


@pytest.fixture(scope="module")
def gateway() -> Iterator[StandInGateway]:
    stand_in = StandInGateway()
    with serve(stand_in.app) as url:
        stand_in.url = url  # type: ignore[attr-defined]
        yield stand_in


@pytest.fixture(scope="module")
def frontend(gateway: StandInGateway) -> Iterator[str]:
    settings = FrontendSettings(
        api_gateway_url=gateway.url,
        proxy_read_timeout_s=0.5,  # type: ignore[attr-defined]
        max_body_bytes=4096,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def frontend_gateway_down() -> Iterator[str]:
    settings = FrontendSettings(api_gateway_url=f"http://127.0.0.1:{free_port()}")
    with serve(create_app(settings)) as url:
        yield url
