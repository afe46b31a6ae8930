"""The worker's /health, /ready and /metrics on METRICS_PORT.

A stdlib WSGI server on one thread with prometheus-client's exposition: the worker answers
three fixed paths, and a web framework would cost it more memory than anything else it
loads. /ready runs the same checks as every service, on the worker's event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from agent_common.checks import READY_CHECK_TIMEOUT_S, Check, run_checks

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:  # probes every few seconds: no access log
        pass


class HealthServer:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, checks: dict[str, Check], *, host: str, port: int
    ) -> None:
        self.loop = loop
        self.checks = checks
        self.metrics = make_wsgi_app()
        self.server = make_server(host, port, self.app, server_class=_Server, handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self.metrics(environ, start_response)
        if path == "/health":
            return _json(start_response, 200, {"status": "ok"})
        if path == "/ready":
            return self._ready(start_response)
        return _json(start_response, 404, {"detail": "not found"})

    def _ready(self, start_response: StartResponse) -> Iterable[bytes]:
        future = asyncio.run_coroutine_threadsafe(run_checks(self.checks), self.loop)
        try:
            results = future.result(READY_CHECK_TIMEOUT_S + 1)
        except Exception as exc:  # the loop itself did not answer: surely not ready
            results = {"worker": f"down: {exc.__class__.__name__}"}
        ok = all(v == "ok" for v in results.values())
        return _json(
            start_response, 200 if ok else 503, {"status": "ready" if ok else "not ready", "checks": results}
        )


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
