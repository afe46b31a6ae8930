"""The gateway's own error answers (JSON {"detail"}, like every service's): responses, which
are ASGI apps too, so the fast path sends them the same way."""

from __future__ import annotations

from agent_common.web import ORJSONResponse, error
from agent_gateway.ratelimit import Verdict


def rate_limited(verdict: Verdict) -> ORJSONResponse:
    if verdict.unavailable:
        return error(
            503,
            "rate limiter unavailable, try again shortly",
            headers={"retry-after": str(verdict.retry_after_s)},
        )
    return error(429, "too many requests: slow down", headers={"retry-after": str(verdict.retry_after_s)})


NO_SESSION = "no valid session: create one with POST /api/session"
NO_SESSION_HEADERS = {"www-authenticate": 'Bearer realm="api"'}


def unauthorized() -> ORJSONResponse:
    return error(401, NO_SESSION, headers=NO_SESSION_HEADERS)


def lookups_refused(verdict: Verdict) -> ORJSONResponse:
    if verdict.unavailable:
        return rate_limited(verdict)
    return error(
        429,
        "too many failed session lookups from this address: try again later",
        headers={"retry-after": str(verdict.retry_after_s)},
    )
