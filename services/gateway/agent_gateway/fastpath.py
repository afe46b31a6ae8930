"""The gateway's fast path: the proxied /api routes (agent_gateway.routes) as plain ASGI, in
front of the small FastAPI app that answers everything else (sessions, /api/upstreams,
/health, /ready, /metrics, /openapi.json and the JSON 404).

The proxied routes skip FastAPI's routing, dependency and response machinery: on this path
that is most of the cost of a request (tests/bench/bench_gateway.py measures it), so they
stay out of the FastAPI app and its dependencies (agent_gateway.deps).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from agent_common import csrf, db, tracing
from agent_common.forwarding import client_address
from agent_common.logs import user_var
from agent_common.web import BodyTooLarge, error
from agent_gateway import metrics, proxy, routes, spans
from agent_gateway.errors import lookups_refused, rate_limited, unauthorized
from agent_gateway.sessions import Session
from agent_gateway.state import GatewayState, LookupRefused
from agent_gateway.upstream import UpstreamError

log = logging.getLogger("agent.gateway")


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

    async def proxied(
        self, scope: Scope, receive: Receive, send: Send, route: routes.Route, target: str, param: str
    ) -> None:
        scope["route"] = route  # the metrics label is route.path
        if tracing.enabled():
            span = spans.server_span(scope, route.method, route.path, route.name)
            await spans.run_in_span(span, self._proxied, scope, receive, send, route, target, param)
        else:
            await self._proxied(scope, receive, send, route, target, param)

    async def _proxied(
        self, scope: Scope, receive: Receive, send: Send, route: routes.Route, target: str, param: str
    ) -> None:
        if route.json_body and not _json_or_empty(scope["headers"]):
            # a body another site's page could send without a CORS preflight is never JSON
            await error(415, "the request body must be JSON (Content-Type: application/json)")(
                scope, receive, send
            )
            return
        try:
            session = await self.state.authenticate(scope)
        except db.UNAVAILABLE as exc:  # only on a cache miss
            log.warning("session lookup failed: %s", exc.__class__.__name__)
            await error(503, "session store unavailable, try again shortly", headers={"retry-after": "2"})(
                scope, receive, send
            )
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
            verdict = await self.state.limiter.take(
                session.bucket, s.rate_limit_capacity, s.rate_limit_refill_per_s
            )
        if not verdict.allowed:
            metrics.refused("session", verdict)
            await rate_limited(verdict)(scope, receive, send)
            return
        limits = self.route_limits.get(route.name)
        if limits is not None and not await self._route_allowed(scope, receive, send, route, session, limits):
            return
        try:
            await proxy.forward(
                scope,
                receive,
                send,
                pool=self.state.upstreams[route.upstream],
                target=target,
                user_id=session.user_id,
                timeout=s.route_timeout(route.name),
                body_timeout=s.body_read_timeout_s,
                trace_lines=spans.upstream_lines() if tracing.enabled() else None,
            )
        except proxy.BodyTimeout:
            # the connection cannot be reused (the rest of the body may still come): close it
            await error(
                408,
                f"the request body did not arrive within {s.body_read_timeout_s:g}s",
                headers={"connection": "close"},
            )(scope, receive, send)
        except UpstreamError as exc:
            log.warning("upstream error on %s: %s", route.path, exc)
            headers = {"retry-after": "2"} if exc.status == 503 else None
            answer = error(exc.status, f"upstream {exc.upstream} {exc.reason}", headers=headers)
            await answer(scope, receive, send)
        except proxy.ClientGone:
            return

    async def _route_allowed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: routes.Route,
        session: Session,
        limits: tuple[float, float, float, float],
    ) -> bool:
        """A costly route's own buckets: the session's, then the client address's."""
        limiter = self.state.limiter
        assert limiter is not None
        address = client_address(scope, self.settings.trusted_proxy_hops)
        for bucket, key, capacity, rate in (
            (route.name, f"rl:{route.name}:s:{session.token_hash.hex()}", limits[0], limits[1]),
            (route.name + "_address", f"rl:{route.name}:a:{address}", limits[2], limits[3]),
        ):
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
