"""What every HTTP service shares: /health, /ready, /metrics, JSON errors, body limits,
request ids and request metrics.

The middleware is plain ASGI (not BaseHTTPMiddleware) because it sits on every request
and must not buffer streaming bodies.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common import db, tracing
from agent_common.checks import run_checks
from agent_common.deps import ChecksDep
from agent_common.logs import request_id_var, setup_logging, user_var
from agent_common.settings import Settings

log = logging.getLogger("agent.web")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to the response's first byte",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

# what a client should wait before retrying when a dependency is down
RETRY_AFTER_S = 2


class ORJSONResponse(JSONResponse):
    """JSON responses through orjson (several times faster than json for our payloads)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, detail: Any, headers: dict[str, str] | None = None) -> ORJSONResponse:
    return ORJSONResponse({"detail": detail}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


class ServiceMiddleware:
    """Request id, body size limit and request metrics, for every HTTP request.

    It runs on every request, so it is lean (the gateway's profile measured it): one pass
    over the headers, a request id from os.urandom rather than uuid4, no receive wrapper
    for a request without a body, and each (method, route, status)'s metric children
    looked up once (prometheus_client's labels() takes a lock on every call)."""

    def __init__(
        self, app: ASGIApp, *, service: str, max_body_bytes: int, trust_user_header: bool = True
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        # behind the gateway X-User-Id names the user (for the logs' user hash); at the edge
        # it is a client's claim, so the gateway sets the user itself after the session check
        self.user_header = b"x-user-id" if trust_user_header else None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared = None
        has_body = False
        user = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = _clean_request_id(value)
            elif name == self.user_header:
                user = value
            elif name == b"content-length":
                declared, has_body = value, True
            elif name == b"transfer-encoding":
                has_body = True
        request_id = request_id or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        user_token = user_var.set(user.decode("latin-1")) if user else None
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                await self._reject_too_large(scope, receive, send, request_id)
                return
            started = time.perf_counter()
            id_header = (b"x-request-id", request_id.encode())

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), id_header]
                    self._observe(scope, message["status"], time.perf_counter() - started)
                await send(message)

            try:
                await self.app(scope, self._limited(receive) if has_body else receive, send_wrapper)
            except BodyTooLarge:
                await self._reject_too_large(scope, receive, send, request_id)
        finally:
            request_id_var.reset(token)
            if user_token is not None:
                user_var.reset(user_token)

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited_receive

    async def _reject_too_large(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        response = error(
            413,
            f"request body is larger than {self.max_body_bytes} bytes",
            headers={"x-request-id": request_id, "connection": "close"},
        )
        self._observe(scope, 413, 0.0)
        await response(scope, receive, send)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        path = getattr(scope.get("route"), "path", None) or "unmatched"
        key = (scope["method"], path, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(self.service, key[0], path, str(status)),
                HTTP_LATENCY.labels(self.service, key[0], path),
            )
        children[0].inc()
        children[1].observe(seconds)


def _clean_request_id(raw: bytes | None) -> str | None:
    """Accept a caller's request id only if it is short and printable (no header injection)
    and not shaped like a session token (43 URL-safe characters): a request id is logged by
    every service, so a client that sends its credential as one must not put it in the logs."""
    if not raw or len(raw) > 128:
        return None
    text = raw.decode("latin-1")
    if len(text) == 43 and "." not in text and ":" not in text:
        return None
    if all(c.isalnum() or c in "-_.:" for c in text):
        return text
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"detail": ...} with the right status, never a stack trace."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error(400, "request body is not valid JSON")
        return error(
            422,
            [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in errors
            ],
        )

    async def database_down(_: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return error(
            503, "database unavailable, try again shortly", headers={"retry-after": str(RETRY_AFTER_S)}
        )

    for unavailable in db.UNAVAILABLE:
        app.add_exception_handler(unavailable, database_down)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_down(_: Request, exc: Exception) -> Response:
        log.warning("redis unavailable: %s", exc.__class__.__name__)
        return error(503, "queue unavailable, try again shortly", headers={"retry-after": str(RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error(500, "internal error")


def install_health(app: FastAPI) -> None:
    """/health (alive), /ready (every dependency in `app.state.checks` answers), /metrics
    (Prometheus)."""

    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        return ORJSONResponse({"status": "ok"})

    @app.get("/ready", include_in_schema=False)
    async def ready(checks: ChecksDep) -> Response:
        results = await run_checks(checks)
        ok = all(v == "ok" for v in results.values())
        return ORJSONResponse(
            {"status": "ready" if ok else "not ready", "checks": results},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_service_app(
    settings: Settings, *, service: str, lifespan: Lifespan, routers: list[APIRouter], **options: Any
) -> FastAPI:
    """A service's FastAPI app, built the same way for each: logs and tracing set up, its
    settings on `app.state` (its deps read them there), /health, /ready, /metrics, JSON
    errors, the request-id and body-limit middleware, then its routers."""
    setup_logging(settings)
    tracing.setup(settings.service_name)
    app = FastAPI(
        title=f"agent-system {service}",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        **options,
    )
    app.state.settings = settings
    setup_service(app, service=service, max_body_bytes=settings.max_body_bytes)
    for router in routers:
        app.include_router(router)
    return app


def setup_service(app: FastAPI, *, service: str, max_body_bytes: int) -> None:
    install_error_handlers(app)
    install_health(app)
    app.add_middleware(ServiceMiddleware, service=service, max_body_bytes=max_body_bytes)
    tracing.instrument_app(app)  # outermost: the request's logs carry its trace id
