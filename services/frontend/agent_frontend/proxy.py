"""/api/* to API_GATEWAY_URL, for local runs (on Kubernetes the HTTPRoute sends /api to the
gateway directly). Bodies stream both ways: an event stream reaches the browser chunk by
chunk, with no read timeout. One pooled client for the process."""

from __future__ import annotations

import http.cookiejar
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from agent_common import csrf, forwarding
from agent_common.logs import request_id_var
from agent_common.web import RETRY_AFTER_S, error
from agent_frontend.settings import FrontendSettings

log = logging.getLogger("agent.frontend.proxy")


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The proxy is shared by every browser: a cookie one answer sets must never ride along
    with another browser's request (httpx keeps cookies in its client by default)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def create_client(settings: FrontendSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        cookies=http.cookiejar.CookieJar(policy=NoCookies()),
        base_url=settings.api_gateway_url.rstrip("/"),
        timeout=httpx.Timeout(settings.proxy_read_timeout_s, connect=settings.proxy_connect_timeout_s),
        limits=httpx.Limits(
            max_connections=settings.proxy_max_connections,
            max_keepalive_connections=settings.proxy_max_keepalive,
        ),
        follow_redirects=False,
        trust_env=False,
    )


def upstream_headers(request: Request, out: forwarding.Outgoing) -> forwarding.Headers:
    """As every proxy here passes them (agent_common.forwarding), plus X-Forwarded-Host: the
    gateway's cross-site check compares the page's origin with it."""
    # uvicorn already took a trusted proxy's X-Forwarded-Proto into the scheme
    ours = forwarding.forwarding_headers(out, request.scope, request_id_var.get() or "", trust_proto=False)
    return [*out.headers, *ours, (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1"))]


def has_dot_segment(path: str) -> bool:
    return any(part in (".", "..") for part in path.split("/"))


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def forward(client: httpx.AsyncClient, request: Request, read_timeout_s: float) -> Response:
    if has_dot_segment(request.url.path):
        return error(400, "path must not contain dot segments")
    # the browser's session cookie rides along: refuse what another site made it send (the
    # gateway checks again; here the answer comes before anything is forwarded)
    refused = csrf.refusal(request.scope)
    if refused is not None:
        return error(403, refused)
    target = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    if request.url.query:
        target += "?" + request.url.query
    streaming = "text/event-stream" in request.headers.get("accept", "")
    # an event stream may stay quiet between events for as long as the model thinks
    timeout = httpx.Timeout(None if streaming else read_timeout_s, connect=client.timeout.connect)
    out = forwarding.request_headers(request.scope["headers"])
    upstream_request = client.build_request(
        request.method,
        target,
        headers=upstream_headers(request, out),
        content=_body(request) if out.has_body else None,
        timeout=timeout,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        log.warning("gateway unreachable: %s", exc.__class__.__name__)
        return error(
            503,
            "the API gateway is unavailable, try again shortly",
            headers={"retry-after": str(RETRY_AFTER_S)},
        )
    except httpx.TimeoutException:
        return error(504, "the API gateway did not answer in time")
    except ClientDisconnect:
        return Response(status_code=499)
    except httpx.HTTPError as exc:
        log.warning("gateway request failed: %s", exc.__class__.__name__)
        return error(502, "the API gateway gave a broken answer")

    down, event_stream = forwarding.response_headers([(k.lower(), v) for k, v in upstream.headers.raw])
    response = StreamingResponse(
        _relay(upstream), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
    )
    response.raw_headers = down  # raw list: several Set-Cookie headers must stay several
    if event_stream and "x-accel-buffering" not in upstream.headers:
        response.raw_headers.append((b"x-accel-buffering", b"no"))  # for an nginx in front of us
    return response


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """Bytes as they arrive (still encoded: content-encoding goes down unchanged)."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # the status line is gone already; ending the body early is all that is left
        log.warning("gateway stream broke: %s", exc.__class__.__name__)
    finally:
        await upstream.aclose()
