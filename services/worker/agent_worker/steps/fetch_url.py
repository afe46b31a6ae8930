"""fetch_url: GET one public http(s) page within size, time and content-type limits.

Every hop (the URL and each redirect) is resolved once through the SSRF guard and the
request is sent to the checked IP address itself (Host header and TLS SNI keep the name),
so a DNS answer that changes between check and connect cannot redirect the connection.
"""

from __future__ import annotations

import asyncio
import io
import re
import ssl
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from agent_worker import inflate, ssrf
from agent_worker.charsets import decode
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, StepInput

SCHEMES = {"http": 80, "https": 443}
TEXT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRYABLE_4XX = frozenset({408, 425, 429})  # timeouts and rate limits pass with time
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"


@dataclass
class Page:
    url: httpx.URL
    status_code: int
    content_type: str
    charset: str | None
    body: bytes


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    url = parse_url(params.get("url"))
    limit = ctx.settings.fetch_total_timeout_s
    try:
        async with asyncio.timeout(limit):
            page, redirects = await fetch(url, ctx.settings)
    except TimeoutError:
        raise StepError(f"fetching {url} took longer than the {limit:g} s limit", retryable=True) from None
    html, charset = decode(
        page.body, page.charset, page.content_type, detect_bytes=ctx.settings.fetch_charset_detect_bytes
    )
    return {
        "url": str(url),
        "final_url": str(page.url),
        "status_code": page.status_code,
        "content_type": page.content_type,
        "charset": charset,
        "html": html,
        "bytes": len(page.body),
        "redirects": redirects,
    }


def parse_url(raw: object) -> httpx.URL:
    """The URL to fetch, or a StepError saying what is wrong with it."""
    if not isinstance(raw, str) or not raw.strip():
        raise StepError("fetch_url needs a 'url' parameter: the address of a web page")
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        raise StepError(f"not a valid URL: {raw!r} ({exc})") from None
    return checked_url(url)


def checked_url(url: httpx.URL) -> httpx.URL:
    if url.scheme not in SCHEMES:
        kind = f"{url.scheme}: URLs are" if url.scheme else "a URL without a scheme is"
        raise StepError(f"only http and https URLs can be fetched; {kind} refused ({url})")
    if not url.raw_host:
        raise StepError(f"not a valid URL: {url} has no host")
    if url.userinfo:
        raise StepError(f"URLs with a user name or password are not fetched: {url.copy_with(userinfo=None)}")
    return url.copy_with(fragment=None)


async def fetch(url: httpx.URL, settings: WorkerSettings) -> tuple[Page, int]:
    """The page at `url` after following at most fetch_max_redirects checked redirects."""
    async with client(settings) as http:
        for hop in range(settings.fetch_max_redirects + 1):
            page_or_next = await fetch_one(http, url, settings, hop)
            if isinstance(page_or_next, Page):
                return page_or_next, hop
            url = page_or_next
    raise StepError(f"too many redirects: more than {settings.fetch_max_redirects}, the last to {url}")


def client(settings: WorkerSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.fetch_connect_timeout_s,
            read=settings.fetch_read_timeout_s,
            write=settings.fetch_read_timeout_s,
            pool=settings.fetch_connect_timeout_s,
        ),
        # no pooled connections: each hop connects to its own checked address, and a TLS
        # connection made for one name is never reused for another name on the same IP
        limits=httpx.Limits(max_keepalive_connections=0),
        follow_redirects=False,
        trust_env=False,  # an environment proxy would resolve the name itself, behind the guard's back
        verify=ssl_context(),
        # only encodings read_capped can inflate in bounded steps
        headers={
            "User-Agent": settings.fetch_user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": inflate.ACCEPT_ENCODING,
        },
    )


@cache
def ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # building one costs milliseconds: share it


async def fetch_one(
    http: httpx.AsyncClient, url: httpx.URL, settings: WorkerSettings, hop: int
) -> Page | httpx.URL:
    """One request to a checked address: the page, or the checked URL it redirects to."""
    host = url.raw_host.decode("ascii")
    addresses = await checked_addresses(host, url.port or SCHEMES[url.scheme], settings, url, hop)
    error: httpx.TransportError | None = None
    for address in addresses:
        try:
            response = await http.send(pinned_request(http, url, host, address), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            error = exc  # try the host's next address
            continue
        except httpx.HTTPError as exc:
            raise transport_failure(url, exc, settings) from None
        try:
            return await answer(response, url, settings)
        except httpx.HTTPError as exc:
            raise transport_failure(url, exc, settings) from None
        finally:
            await response.aclose()
    assert error is not None  # resolve() never returns an empty list
    raise transport_failure(url, error, settings) from None


async def checked_addresses(
    host: str, port: int, settings: WorkerSettings, url: httpx.URL, hop: int
) -> list[str]:
    try:
        return await ssrf.resolve(
            host, port, allowed=settings.allowed_hosts(), ports=settings.allowed_ports()
        )
    except ssrf.Blocked as exc:
        where = f" (redirect {hop} led to {url})" if hop else ""
        raise StepError(f"{exc}{where}") from None
    except ssrf.ResolveError as exc:
        raise StepError(str(exc), retryable=exc.temporary) from None


def pinned_request(http: httpx.AsyncClient, url: httpx.URL, host: str, address: str) -> httpx.Request:
    """A GET of `url` sent to `address`: the Host header and TLS name stay the URL's host."""
    extensions = {}
    if url.scheme == "https" and ssrf.parse_ip_literal(host) is None:
        extensions["sni_hostname"] = host.rstrip(".")  # the certificate is checked against it too
    target = url.copy_with(host=address.split("%", 1)[0])
    return http.build_request(
        "GET", target, headers={"Host": url.netloc.decode("ascii")}, extensions=extensions
    )


async def answer(response: httpx.Response, url: httpx.URL, settings: WorkerSettings) -> Page | httpx.URL:
    code = response.status_code
    if code in REDIRECTS and "location" in response.headers:
        return redirect_target(url, response.headers["location"])
    if code >= 400:
        kind = "the page cannot be fetched" if code < 500 else "a server error"
        raise StepError(
            f"{url} answered HTTP {code} {response.reason_phrase} ({kind})",
            retryable=code >= 500 or code in RETRYABLE_4XX,
        )
    if code not in (200, 203):  # 203: a proxy's copy of the page, still the page
        raise StepError(f"{url} answered HTTP {code} {response.reason_phrase}, not a page")
    media, charset = content_type(response.headers.get("content-type", ""))
    if media and media not in TEXT_TYPES:
        raise StepError(f"{url} is {media}, not a web page (accepted: {', '.join(sorted(TEXT_TYPES))})")
    body = await read_capped(response, url, settings.fetch_max_bytes)
    if not media:
        media = sniff(body, url)
    return Page(url, code, media, charset, body)


def redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise StepError(f"{url} redirected to an invalid URL {location!r} ({exc})") from None
    return checked_url(target)


async def read_capped(
    response: httpx.Response, url: httpx.URL, limit: int, *, piece_bytes: int = 65_536
) -> bytes:
    """The decompressed body, refused as soon as it passes `limit` bytes (declared or
    actually sent). Each decompression step yields at most `piece_bytes` (and never more
    than one byte past the limit), so a compression bomb costs the cap, not its size."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise StepError(f"{url} is {int(declared):,} bytes, more than the {limit:,} byte limit")
    encoding = response.headers.get("content-encoding", "")
    try:
        decoder = inflate.decoder_for(encoding)
    except inflate.UnsupportedEncoding as exc:
        raise StepError(
            f"{url} sent its body in the {exc} encoding, which was not asked for "
            f"(accepted: {inflate.ACCEPT_ENCODING})"
        ) from None
    body = io.BytesIO()  # getvalue() hands over its buffer: no second copy of the page
    try:
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw, min(piece_bytes, limit - body.tell() + 1)):
                if body.tell() + len(piece) > limit:
                    raise StepError(f"{url} is larger than the {limit:,} byte limit; stopped reading there")
                body.write(piece)
    except inflate.DecodeError as exc:
        raise StepError(f"{url} sent a body that could not be decompressed ({encoding}: {exc})") from None
    return body.getvalue()


def content_type(header: str) -> tuple[str, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    media = header.split(";", 1)[0].strip().lower()
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", header, re.IGNORECASE)
    return media, match.group(1) if match else None


def sniff(body: bytes, url: httpx.URL) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "text/html"
    raise StepError(f"{url} sent no content type and does not look like a web page")


def transport_failure(url: httpx.URL, exc: httpx.HTTPError, settings: WorkerSettings) -> StepError:
    """A readable, retryable StepError for a network failure."""
    host = url.host
    if isinstance(exc, httpx.ConnectTimeout):
        return StepError(
            f"could not connect to {host} within {settings.fetch_connect_timeout_s:g} s", retryable=True
        )
    if isinstance(exc, httpx.ReadTimeout):
        return StepError(f"{host} sent nothing for {settings.fetch_read_timeout_s:g} s", retryable=True)
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return StepError(f"{host} presented a TLS certificate that could not be verified ({exc})")
        return StepError(f"could not connect to {host}: {str(exc) or type(exc).__name__}", retryable=True)
    return StepError(f"the connection to {host} failed: {str(exc) or type(exc).__name__}", retryable=True)
