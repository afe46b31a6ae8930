"""The /api endpoints the gateway answers itself: sessions and the upstreams report (the
proxied routes take the fast path in agent_gateway.fastpath)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_common.forwarding import claimed_proto, client_address, forwarded_proto
from agent_common.web import ORJSONResponse
from agent_gateway import metrics
from agent_gateway.deps import ReportDep, SessionDep, SettingsDep, StateDep
from agent_gateway.errors import rate_limited
from agent_gateway.sessions import COOKIE, Session
from agent_gateway.settings import GatewaySettings

router = APIRouter(prefix="/api")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _secure(request: Request, settings: GatewaySettings) -> bool:
    if settings.session_cookie_secure != "auto":
        return settings.session_cookie_secure == "always"
    claimed = claimed_proto(request.scope["headers"]) if settings.trusted_proxy_hops else None
    return forwarded_proto(claimed, request.url.scheme) == b"https"


def _cookie(request: Request, settings: GatewaySettings, value: str, max_age: int) -> str:
    """`session` cookie: HttpOnly (no script reads it), SameSite=Lax (no cross-site POSTs),
    Secure as SESSION_COOKIE_SECURE says."""
    secure = _secure(request, settings)
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax" + (
        "; Secure" if secure else ""
    )


def _session_body(session: Session) -> dict[str, Any]:
    return {"user_id": session.user_id, "expires_at": _iso(session.expires_at)}


@router.post("/session", status_code=201)
async def create_session(request: Request, state: StateDep, settings: SettingsDep) -> Response:
    address = client_address(request.scope, settings.trusted_proxy_hops)
    verdict = await state.limiter.take(
        "rl:new:" + address, settings.session_create_capacity, settings.session_create_refill_per_s
    )
    if not verdict.allowed:
        metrics.refused("session_create", verdict)
        return rate_limited(verdict)
    token, session = await state.sessions.create()
    return ORJSONResponse(
        {"session_token": token, **_session_body(session)},
        status_code=201,
        headers={
            "set-cookie": _cookie(request, settings, token, settings.session_ttl_s),
            "cache-control": "no-store",
        },
    )


@router.get("/session")
async def read_session(session: SessionDep) -> Response:
    return ORJSONResponse(_session_body(session), headers={"cache-control": "no-store"})


@router.post("/session/revoke")
async def revoke_session(
    request: Request, session: SessionDep, state: StateDep, settings: SettingsDep
) -> Response:
    await state.sessions.revoke(session)
    return ORJSONResponse({"status": "revoked"}, headers={"set-cookie": _cookie(request, settings, "", 0)})


@router.get("/upstreams")
async def upstreams(
    session: SessionDep, state: StateDep, settings: SettingsDep, report: ReportDep
) -> Response:
    """Each upstream's /ready and the task queue's backlog; it costs a token of the session's
    bucket, like a proxied request."""
    verdict = await state.limiter.take(
        session.bucket, settings.rate_limit_capacity, settings.rate_limit_refill_per_s
    )
    if not verdict.allowed:
        metrics.refused("session", verdict)
        return rate_limited(verdict)
    return ORJSONResponse(await report.get(), headers={"cache-control": "no-store"})
