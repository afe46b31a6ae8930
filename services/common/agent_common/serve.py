"""Run an ASGI app with uvicorn the same way in every service (uvloop, httptools, our logs)."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


def run(app: ASGIApp, *, host: str, port: int, graceful_s: float = 20.0) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_s,  # type: ignore[arg-type]  # annotated int; a wait_for timeout
        timeout_keep_alive=75,  # longer than the gateway's pool keep-alive, so it closes first
    )
