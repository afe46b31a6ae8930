"""The gateway's ASGI app: a plain-ASGI fast path for the proxied /api routes in front of a
small FastAPI app for everything else (sessions, /api/upstreams, /health, /ready, /metrics,
and the JSON 404 for unknown paths), all inside the shared request-id/body-limit middleware.

The proxied routes skip FastAPI's routing, dependency and response machinery: on this path
that is most of the cost of a request (see docs/gateway.md for the figures).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import unquote

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_common import csrf, db, tracing
from agent_common.forwarding import client_address
from agent_common.logs import setup_logging, user_var
from agent_common.web import (
    BodyTooLarge,
    ORJSONResponse,
    ServiceMiddleware,
    error,
    install_error_handlers,
    install_health,
)
from agent_gateway import metrics, proxy, routes, spans
from agent_gateway.endpoints import install_endpoints
from agent_gateway.errors import lookups_refused, rate_limited, unauthorized
from agent_gateway.openapi import install_openapi
from agent_gateway.sessions import Session
from agent_gateway.settings import GatewaySettings
from agent_gateway.state import GatewayState, LookupRefused
from agent_gateway.upstream import UpstreamError

log = logging.getLogger("agent.gateway")

# expired sessions are deleted this long after their expiry, checked this often
SESSION_SWEEP_AFTER_S = 86_400.0
SESSION_SWEEP_EVERY_S = 3_600.0


class Gateway:
    """Routes a request to the proxy fast path or to the FastAPI app."""

    def __init__(self, api: FastAPI, state: GatewayState) -> None:
        self.api = api
        self.state = state
        self.settings = state.settings
        self.trusted_origins = state.settings.trusted_origins()
        self.route_limits = state.settings.route_limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            if scope["method"] not in csrf.SAFE_METHODS:
                refused = csrf.refusal(scope, self.trusted_origins)
                if refused is not None:
                    await error(403, refused)(scope, receive, send)
                    return
            raw = scope.get("raw_path") or scope["path"].encode()
            try:
                hit = routes.match(scope["method"], raw.decode("latin-1"))
            except routes.MethodNotAllowed as exc:
                response = error(405, "method not allowed", headers={"allow": ", ".join(exc.allowed)})
                await response(scope, receive, send)
                return
            if hit is not None:
                try:
                    await self.proxied(scope, receive, send, *hit)
                except BodyTooLarge:  # the middleware answers 413
                    raise
                except Exception:  # a bug: JSON like every other error, if nothing was sent yet
                    log.exception("unhandled error on %s", hit[0].path)
                    if not scope.get(proxy.STARTED):
                        await error(500, "internal error")(scope, receive, send)
                return
        await self.api(scope, receive, send)

    async def proxied(self, scope: Scope, receive: Receive, send: Send, route: routes.Route, target: str,
                      param: str) -> None:
        scope["route"] = route  # the metrics label is route.path
        if tracing.enabled():
            span = spans.server_span(scope, route.method, route.path, route.name)
            await spans.run_in_span(span, self._proxied, scope, receive, send, route, target, param)
        else:
            await self._proxied(scope, receive, send, route, target, param)

    async def _proxied(self, scope: Scope, receive: Receive, send: Send, route: routes.Route, target: str,
                       param: str) -> None:
        if route.json_body and not _json_or_empty(scope["headers"]):
            # a body another site's page could send without a CORS preflight is never JSON
            await error(415, "the request body must be JSON (Content-Type: application/json)")(
                scope, receive, send)
            return
        try:
            session = await self.state.authenticate(scope)
        except db.UNAVAILABLE as exc:  # only on a cache miss
            log.warning("session lookup failed: %s", exc.__class__.__name__)
            await error(503, "session store unavailable, try again shortly",
                        headers={"retry-after": "2"})(scope, receive, send)
            return
        except LookupRefused as exc:
            await lookups_refused(exc.verdict)(scope, receive, send)
            return
        if session is None:
            await unauthorized()(scope, receive, send)
            return
        user_var.set(session.user_id)  # this request's task only: its log lines carry the user's hash
        if route.own_user_param and unquote(param) != session.user_id:
            # another user's data does not exist as far as this session can tell
            await error(404, "not found")(scope, receive, send)
            return
        s = self.settings
        with tracing.span("EVALSHA rate limit", kind=spans.CLIENT, attributes=spans.RATE_LIMIT_ATTRIBUTES):
            verdict = await self.state.limiter.take(  # type: ignore[union-attr]
                session.bucket, s.rate_limit_capacity, s.rate_limit_refill_per_s)
        if not verdict.allowed:
            metrics.refused("session", verdict)
            await rate_limited(verdict)(scope, receive, send)
            return
        limits = self.route_limits.get(route.name)
        if limits is not None and not await self._route_allowed(scope, receive, send, route, session, limits):
            return
        try:
            await proxy.forward(scope, receive, send, pool=self.state.upstreams[route.upstream],
                                target=target, user_id=session.user_id, timeout=s.route_timeout(route.name),
                                body_timeout=s.body_read_timeout_s,
                                trace_lines=spans.upstream_lines() if tracing.enabled() else None)
        except proxy.BodyTimeout:
            # the connection cannot be reused (the rest of the body may still come): close it
            await error(408, f"the request body did not arrive within {s.body_read_timeout_s:g}s",
                        headers={"connection": "close"})(scope, receive, send)
        except UpstreamError as exc:
            log.warning("upstream error on %s: %s", route.path, exc)
            headers = {"retry-after": "2"} if exc.status == 503 else None
            answer = error(exc.status, f"upstream {exc.upstream} {exc.reason}", headers=headers)
            await answer(scope, receive, send)
        except proxy.ClientGone:
            return


    async def _route_allowed(self, scope: Scope, receive: Receive, send: Send, route: routes.Route,
                             session: Session, limits: tuple[float, float, float, float]) -> bool:
        """A costly route's own buckets: the session's, then the client address's."""
        limiter = self.state.limiter
        assert limiter is not None
        address = client_address(scope, self.settings.trusted_proxy_hops)
        for bucket, key, capacity, rate in (
                (route.name, f"rl:{route.name}:s:{session.token_hash.hex()}", limits[0], limits[1]),
                (route.name + "_address", f"rl:{route.name}:a:{address}", limits[2], limits[3])):
            verdict = await limiter.take(key, capacity, rate)
            if not verdict.allowed:
                metrics.refused(bucket, verdict)
                await rate_limited(verdict)(scope, receive, send)
                return False
        return True


def _json_or_empty(headers: list[tuple[bytes, bytes]]) -> bool:
    """True for a request without a body or with a JSON one (application/json, */*+json)."""
    content_type = None
    has_body = False
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            has_body = value != b"0"
        elif name == b"transfer-encoding":
            has_body = True
    if not has_body:
        return True
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def create_app(settings: GatewaySettings | None = None) -> ASGIApp:
    settings = settings or GatewaySettings()
    setup_logging(settings)
    tracing.setup(settings.service_name)
    state = GatewayState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.open()
        background = [asyncio.create_task(_sweep_sessions(state)),
                      asyncio.create_task(_count_sessions(state, settings.sessions_gauge_interval_s))]
        yield
        for task in background:
            task.cancel()
        for task in background:
            with suppress(asyncio.CancelledError):
                await task
        await state.close()

    api = FastAPI(title="agent-system gateway", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    api.state.gateway = state
    install_error_handlers(api)

    @api.exception_handler(LookupRefused)
    async def refused_lookups(_: object, exc: LookupRefused) -> ORJSONResponse:
        return lookups_refused(exc.verdict)  # type: ignore[return-value]

    install_health(api, {
        "postgres": lambda: db.ping(state.pool),  # type: ignore[arg-type]
        "redis": lambda: state.redis.ping(),  # type: ignore[union-attr]
    })
    install_endpoints(api, state)
    install_openapi(api)
    tracing.instrument_app(api)  # sessions, /api/upstreams (the proxied routes make their own spans)
    # X-User-Id from a client is a claim, not a user: the proxy path sets the session's user
    app = ServiceMiddleware(Gateway(api, state), service="gateway", max_body_bytes=settings.max_body_bytes,
                            trust_user_header=False)
    app.state = state  # type: ignore[attr-defined]
    return app


async def _sweep_sessions(state: GatewayState) -> None:
    while True:
        await asyncio.sleep(SESSION_SWEEP_EVERY_S)
        try:
            deleted = await state.sessions.delete_expired(SESSION_SWEEP_AFTER_S)  # type: ignore[union-attr]
            if deleted:
                log.info("deleted %d expired sessions", deleted)
        except db.UNAVAILABLE as exc:
            log.warning("could not delete expired sessions: %s", exc)


async def _count_sessions(state: GatewayState, every_s: float) -> None:
    """Refresh gateway_sessions_active: one count query per interval, not per scrape."""
    while True:
        try:
            metrics.SESSIONS_ACTIVE.set(await state.sessions.count_live())  # type: ignore[union-attr]
        except db.UNAVAILABLE as exc:
            log.debug("could not count sessions: %s", exc.__class__.__name__)
        await asyncio.sleep(every_s)
