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

from agent_common import csrf
from agent_common.logs import request_id_var
from agent_common.web import RETRY_AFTER_S, error
from agent_frontend.settings import FrontendSettings

log = logging.getLogger("agent.frontend.proxy")

# RFC 9110 section 7.6.1, plus headers that the proxy sets itself
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})
NOT_FORWARDED_UP = HOP_BY_HOP | {"host", "content-length", "x-forwarded-for", "x-forwarded-proto",
                                 "x-forwarded-host", "x-request-id", "forwarded"}
# the request id is ours (the service middleware sets it)
NOT_FORWARDED_DOWN = HOP_BY_HOP | {"x-request-id"}


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
        limits=httpx.Limits(max_connections=settings.proxy_max_connections,
                            max_keepalive_connections=settings.proxy_max_keepalive),
        follow_redirects=False,
        trust_env=False,
    )


def upstream_headers(request: Request) -> list[tuple[str, str]]:
    connection_named = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    headers = [(k, v) for k, v in request.headers.items()
               if k not in NOT_FORWARDED_UP and k not in connection_named]
    headers.append(("x-forwarded-for", forwarded_for(request)))
    # uvicorn already took a trusted proxy's X-Forwarded-Proto into the scheme
    headers.append(("x-forwarded-proto", request.url.scheme))
    headers.append(("x-forwarded-host", request.headers.get("host", "")))
    request_id = request_id_var.get()
    if request_id:
        headers.append(("x-request-id", request_id))
    return headers


def forwarded_for(request: Request) -> str:
    """The chain so far plus the client. Behind a trusted proxy, uvicorn has already made the
    chain's last address the client (proxy_headers), so it is not added twice."""
    client_ip = request.client.host if request.client else ""
    prior = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    if not prior or prior[-1] != client_ip:
        prior.append(client_ip)
    return ", ".join(prior)


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
    has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE")
    upstream_request = client.build_request(
        request.method, target, headers=upstream_headers(request),
        content=_body(request) if has_body else None, timeout=timeout,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        log.warning("gateway unreachable: %s", exc.__class__.__name__)
        return error(503, "the API gateway is unavailable, try again shortly",
                     headers={"retry-after": str(RETRY_AFTER_S)})
    except httpx.TimeoutException:
        return error(504, "the API gateway did not answer in time")
    except ClientDisconnect:
        return Response(status_code=499)
    except httpx.HTTPError as exc:
        log.warning("gateway request failed: %s", exc.__class__.__name__)
        return error(502, "the API gateway gave a broken answer")

    down = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in NOT_FORWARDED_DOWN]
    response = StreamingResponse(_relay(upstream), status_code=upstream.status_code,
                                 background=BackgroundTask(upstream.aclose))
    # raw list: several Set-Cookie headers must stay several
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in down]
    event_stream = upstream.headers.get("content-type", "").startswith("text/event-stream")
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
