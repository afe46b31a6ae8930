"""The /api endpoints the gateway answers itself: sessions and the upstreams report.

The report probes every upstream and pings Redis: it is made at most once per
UPSTREAMS_REPORT_TTL_S per replica (callers in between share it), each call also takes a
token from the session's bucket, and the upstreams' internal URLs are left out unless
UPSTREAMS_REPORT_URLS is on."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from redis.exceptions import RedisError, ResponseError

from agent_common import queue
from agent_common.forwarding import claimed_proto, client_address, forwarded_proto
from agent_common.web import ORJSONResponse
from agent_gateway import metrics
from agent_gateway.errors import rate_limited, unauthorized
from agent_gateway.sessions import COOKIE, Session
from agent_gateway.state import UPSTREAM_NAMES, GatewayState


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _cookie(request: Request, value: str, max_age: int) -> str:
    """`session` cookie: HttpOnly (no script reads it), SameSite=Lax (no cross-site POSTs),
    Secure when the client reached us over https."""
    secure = forwarded_proto(claimed_proto(request.scope["headers"]), request.url.scheme) == b"https"
    return (f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))


def _session_body(session: Session) -> dict[str, Any]:
    return {"user_id": session.user_id, "expires_at": _iso(session.expires_at)}


def install_endpoints(api: FastAPI, state: GatewayState) -> None:
    settings = state.settings

    @api.post("/api/session", status_code=201)
    async def create_session(request: Request) -> Response:
        address = client_address(request.scope, settings.trusted_proxy_hops)
        verdict = await state.limiter.take(  # type: ignore[union-attr]
            "rl:new:" + address, settings.session_create_capacity, settings.session_create_refill_per_s)
        if not verdict.allowed:
            metrics.refused("session_create", verdict)
            return rate_limited(verdict)  # type: ignore[return-value]
        token, session = await state.sessions.create()  # type: ignore[union-attr]
        return ORJSONResponse(
            {"session_token": token, **_session_body(session)}, status_code=201,
            headers={"set-cookie": _cookie(request, token, settings.session_ttl_s),
                     "cache-control": "no-store"})

    @api.get("/api/session")
    async def read_session(request: Request) -> Response:
        session = await state.authenticate(request.scope)
        if session is None:
            return unauthorized()  # type: ignore[return-value]
        return ORJSONResponse(_session_body(session), headers={"cache-control": "no-store"})

    @api.post("/api/session/revoke")
    async def revoke_session(request: Request) -> Response:
        session = await state.authenticate(request.scope)
        if session is None:
            return unauthorized()  # type: ignore[return-value]
        await state.sessions.revoke(session)  # type: ignore[union-attr]
        return ORJSONResponse({"status": "revoked"}, headers={"set-cookie": _cookie(request, "", 0)})

    report = SharedReport(state)

    @api.get("/api/upstreams")
    async def upstreams(request: Request) -> Response:
        session = await state.authenticate(request.scope)
        if session is None:
            return unauthorized()  # type: ignore[return-value]
        verdict = await state.limiter.take(  # type: ignore[union-attr]
            session.bucket, settings.rate_limit_capacity, settings.rate_limit_refill_per_s)
        if not verdict.allowed:
            metrics.refused("session", verdict)
            return rate_limited(verdict)  # type: ignore[return-value]
        return ORJSONResponse(await report.get(), headers={"cache-control": "no-store"})


class SharedReport:
    """The upstreams report, made once per UPSTREAMS_REPORT_TTL_S for every caller."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.made_at = 0.0
        self.value: dict[str, Any] | None = None
        self.making: asyncio.Future[dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        ttl = self.state.settings.upstreams_report_ttl_s
        if self.value is not None and time.monotonic() - self.made_at < ttl:
            return self.value
        if self.making is None:
            self.making = asyncio.ensure_future(self._make())
        making = self.making
        try:
            return await asyncio.shield(making)
        finally:
            if self.making is making and making.done():
                self.making = None

    async def _make(self) -> dict[str, Any]:
        state = self.state
        probes = await asyncio.gather(*(_probe(state, name) for name in UPSTREAM_NAMES))
        value = {"upstreams": dict(zip(UPSTREAM_NAMES, probes, strict=True)),
                 "queue": await _queue_report(state)}
        self.value, self.made_at = value, time.monotonic()
        return value


async def _probe(state: GatewayState, name: str) -> dict[str, Any]:
    url = state.upstream_url(name)
    # internal addresses are for operators: only when they asked for them
    report: dict[str, Any] = {"url": url} if state.settings.upstreams_report_urls else {}
    try:
        answer = await state.http.get(url.rstrip("/") + "/ready")  # type: ignore[union-attr]
    except httpx.HTTPError as exc:
        return {**report, "ready": False, "error": exc.__class__.__name__}
    report.update(ready=answer.status_code == 200, status=answer.status_code)
    with suppress(ValueError):
        report["checks"] = answer.json().get("checks")
    return report


async def _queue_report(state: GatewayState) -> dict[str, Any]:
    """Backlog of the task stream: its length and the workers group's pending count and lag."""
    report: dict[str, Any] = {"stream": queue.STREAM, "group": queue.GROUP}
    assert state.redis is not None
    try:
        stats = await queue.stats(state.redis)
    except ResponseError:  # no stream yet: nothing was ever queued
        return {**report, "length": 0, "pending": 0, "lag": 0, "consumers": 0, "dead": 0}
    except RedisError as exc:
        return {**report, "error": f"redis unavailable ({exc.__class__.__name__})"}
    return {**report, **dataclasses.asdict(stats)}
