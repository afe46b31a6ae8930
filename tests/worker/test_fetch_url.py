"""fetch_url against real loopback servers: `pages` is allowed through FETCH_ALLOWED_HOSTS,
`canary` is not and must never see a request. No traffic leaves 127.0.0.0/8."""

from __future__ import annotations

import re
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import ValidationError

from agent_worker import ssrf
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, fetch_url
from tests.shared_data import page_file
from tests.support.pageserver import CHARSET_TITLE, PageServer, compressed

Fetch = Callable[..., Any]


@pytest.fixture
async def fetch(pages: PageServer) -> AsyncIterator[Fetch]:
    """run fetch_url on a URL with the pages server allowed and any settings overridden."""
    async with httpx.AsyncClient() as http:

        async def go(url: str, **overrides: Any) -> dict[str, Any]:
            settings = WorkerSettings(**{"fetch_allowed_hosts": pages.hostport, **overrides})
            return await fetch_url.run({"url": url}, [], StepContext(settings, http, "task", "fetch_1"))

        yield go


async def refused(fetch: Fetch, url: str, **overrides: Any) -> StepError:
    with pytest.raises(StepError) as info:
        await fetch(url, **overrides)
    return info.value


async def test_fixture_page_is_fetched(fetch: Fetch, pages: PageServer) -> None:
    out = await fetch(pages.url("/pages/cnn.html"))
    source = page_file("cnn", "source.html").read_bytes()
    assert out["status_code"] == 200
    assert out["content_type"] == "text/html"
    assert out["charset"] == "utf-8"
    assert out["bytes"] == len(source)
    assert out["html"] == source.decode("utf-8")
    assert out["url"] == out["final_url"] == pages.url("/pages/cnn.html")
    assert out["redirects"] == 0


async def test_plain_text_is_fetched(fetch: Fetch, pages: PageServer) -> None:
    out = await fetch(pages.url("/text"))
    assert out["content_type"] == "text/plain"
    assert out["html"].startswith("Redis streams are an append-only log")


async def test_allowed_redirects_are_followed(fetch: Fetch, pages: PageServer) -> None:
    inner = "/redirect?to=" + quote("/pages/bbc-1.html")
    out = await fetch(pages.url("/redirect?code=301&to=" + quote(inner)))
    assert out["redirects"] == 2
    assert out["final_url"] == pages.url("/pages/bbc-1.html")
    assert "Obama" in out["html"]


# --- SSRF: the canary must never be reached -----------------------------------------------------

CANARY_FORMS = [
    ("http://127.0.0.1:{port}/pages/cnn.html", r"blocked: 127\.0\.0\.1 is a loopback address"),
    ("http://localhost:{port}/pages/cnn.html", r"blocked: (127\.0\.0\.1|::1) is a loopback address"),
    ("http://[::1]:{port}/pages/cnn.html", r"blocked: ::1 is a loopback address"),
    ("http://2130706433:{port}/pages/cnn.html", r"blocked: 127\.0\.0\.1 is a loopback address"),
    ("http://0x7f000001:{port}/pages/cnn.html", r"blocked: 127\.0\.0\.1 is a loopback address"),
    ("http://127.1:{port}/pages/cnn.html", r"blocked: 127\.0\.0\.1 is a loopback address"),
    ("http://127.0.0.1.:{port}/pages/cnn.html", r"blocked: 127\.0\.0\.1 is a loopback address"),
    (
        "http://[::ffff:127.0.0.1]:{port}/pages/cnn.html",
        r"blocked: ::ffff:7f00:1 is an IPv4-mapped form of 127\.0\.0\.1, a loopback address",
    ),
    ("http://0.0.0.0:{port}/pages/cnn.html", r"blocked: 0\.0\.0\.0 is an unspecified address"),
]


@pytest.mark.parametrize(("template", "message"), CANARY_FORMS)
async def test_loopback_forms_are_refused(
    fetch: Fetch, canary: PageServer, template: str, message: str
) -> None:
    before = canary.total_hits()
    error = await refused(fetch, template.format(port=canary.port))
    assert canary.total_hits() == before
    assert not error.retryable
    assert re.fullmatch(message, error.message), error.message


async def test_exact_refusal_message(fetch: Fetch, canary: PageServer) -> None:
    error = await refused(fetch, canary.url("/pages/cnn.html"))
    assert error.message == "blocked: 127.0.0.1 is a loopback address"


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:{port}/pages/cnn.html", "http://2130706433:{port}/x", "http://[::1]:{port}/x"],
)
async def test_redirect_to_the_canary_is_refused(
    fetch: Fetch, pages: PageServer, canary: PageServer, target: str
) -> None:
    before_canary, before_redirect = canary.total_hits(), pages.hits["/redirect"]
    error = await refused(fetch, pages.url("/redirect?to=" + quote(target.format(port=canary.port))))
    assert canary.total_hits() == before_canary  # refused before any connection
    assert pages.hits["/redirect"] == before_redirect + 1
    assert error.message.startswith("blocked: ")
    assert "is a loopback address (redirect 1 led to http://" in error.message
    assert not error.retryable


async def test_the_allowed_pair_is_exact(fetch: Fetch, pages: PageServer) -> None:
    """The allowed server under another spelling of its address is still refused."""
    error = await refused(fetch, f"http://127.1:{pages.port}/pages/cnn.html")
    assert error.message == "blocked: 127.0.0.1 is a loopback address"


async def test_connects_to_the_checked_address(
    fetch: Fetch, pages: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name is resolved once per hop, and the request goes to that answer: here a name no
    DNS knows reaches the allowed server only through the guard's own lookup."""
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "getaddrinfo", resolver)
    out = await fetch(
        f"http://pages.test:{pages.port}/pages/cnn.html", fetch_allowed_hosts=f"pages.test:{pages.port}"
    )
    assert out["status_code"] == 200
    assert lookups == ["pages.test"]


async def test_a_rebound_name_is_refused(
    fetch: Fetch, canary: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]  # one public answer does not excuse a private one

    monkeypatch.setattr(ssrf, "getaddrinfo", resolver)
    before = canary.total_hits()
    error = await refused(fetch, f"http://rebind.test:{canary.port}/")
    assert error.message == "blocked: 127.0.0.1 is a loopback address"
    assert canary.total_hits() == before


@pytest.mark.parametrize("port", [22, 6379, 8080])
async def test_ports_other_than_80_and_443_are_refused(
    fetch: Fetch, pages: PageServer, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public host's other services (ssh, Redis, an admin panel) are not fetched, directly
    or through a redirect; the refusal comes before any connection."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(ssrf, "getaddrinfo", resolver)
    error = await refused(fetch, f"http://public.test:{port}/admin")
    assert error.message == f"blocked: port {port} is not one of the ports fetched (80, 443)"
    assert not error.retryable
    target = f"http://public.test:{port}/admin"
    error = await refused(fetch, pages.url("/redirect?to=" + quote(target)))
    assert error.message == (
        f"blocked: port {port} is not one of the ports fetched (80, 443) (redirect 1 led to {target})"
    )


def test_allowed_ports_setting() -> None:
    assert WorkerSettings().allowed_ports() == {80, 443}
    assert WorkerSettings(fetch_allowed_ports="80, 443, 8080").allowed_ports() == {80, 443, 8080}
    assert WorkerSettings(fetch_allowed_ports="*").allowed_ports() is None
    for bad in ("http", "0", "70000", "80;443"):
        with pytest.raises(ValidationError, match="not a port number"):
            WorkerSettings(fetch_allowed_ports=bad)


@pytest.mark.parametrize("temporary", [False, True])
async def test_unresolvable_names(fetch: Fetch, monkeypatch: pytest.MonkeyPatch, temporary: bool) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise ssrf.ResolveError(f"could not resolve {host}: lookup failed", temporary=temporary)

    monkeypatch.setattr(ssrf, "getaddrinfo", resolver)
    error = await refused(fetch, "http://nowhere.test/")
    assert error.message == "could not resolve nowhere.test: lookup failed"
    assert error.retryable is temporary


async def test_requests_are_pinned_to_the_address() -> None:
    async with httpx.AsyncClient() as http:
        check_pinned(http)


def check_pinned(http: httpx.AsyncClient) -> None:
    url = httpx.URL("https://example.com:8443/a?b=1")
    request = fetch_url.pinned_request(http, url, "example.com", "93.184.216.34")
    assert str(request.url) == "https://93.184.216.34:8443/a?b=1"
    assert request.headers["host"] == "example.com:8443"
    assert request.extensions["sni_hostname"] == "example.com"
    plain = fetch_url.pinned_request(http, httpx.URL("http://example.com/"), "example.com", "2606:2800::1")
    assert str(plain.url) == "http://[2606:2800::1]/"
    assert plain.headers["host"] == "example.com"
    assert "sni_hostname" not in plain.extensions


# --- limits ----------------------------------------------------------------------------------------


async def test_too_many_redirects(fetch: Fetch, pages: PageServer) -> None:
    url = "/pages/cnn.html"
    for _ in range(4):
        url = "/redirect?to=" + quote(url)
    assert (await fetch(pages.url(url), fetch_max_redirects=4))["redirects"] == 4
    before = pages.hits["/redirect"]
    error = await refused(fetch, pages.url(url), fetch_max_redirects=3)
    assert error.message.startswith("too many redirects: more than 3")
    assert pages.hits["/redirect"] == before + 4
    assert not error.retryable


async def test_default_redirect_limit_is_five(fetch: Fetch, pages: PageServer) -> None:
    url = "/pages/cnn.html"
    for _ in range(6):
        url = "/redirect?to=" + quote(url)
    error = await refused(fetch, pages.url(url))
    assert error.message.startswith("too many redirects: more than 5")


async def test_redirect_to_another_scheme_is_refused(fetch: Fetch, pages: PageServer) -> None:
    error = await refused(fetch, pages.url("/redirect?to=" + quote("file:///etc/passwd")))
    assert error.message.startswith("only http and https URLs can be fetched; file: URLs are refused")


async def test_byte_cap(fetch: Fetch, pages: PageServer) -> None:
    error = await refused(fetch, pages.url("/big"))
    assert error.message == f"{pages.url('/big')} is 3,000,033 bytes, more than the 2,000,000 byte limit"
    assert not error.retryable
    small = await refused(fetch, pages.url("/pages/cnn.html"), fetch_max_bytes=10_000)
    assert "more than the 10,000 byte limit" in small.message


async def test_byte_cap_stops_reading_an_undeclared_body() -> None:
    """Without Content-Length the body is read only up to the cap, not to its end."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"x" * 1000

    response = httpx.Response(200, headers={"content-type": "text/html"}, content=endless())
    with pytest.raises(StepError, match="larger than the 10,000 byte limit; stopped reading there"):
        await fetch_url.read_capped(response, httpx.URL("http://example.com/"), 10_000)
    assert sent == 11


async def test_wrong_content_type(fetch: Fetch, pages: PageServer) -> None:
    error = await refused(fetch, pages.url("/binary"))
    assert error.message.startswith(f"{pages.url('/binary')} is image/png, not a web page")
    assert not error.retryable


@pytest.mark.parametrize(
    ("code", "retryable"), [(404, False), (403, False), (410, False), (429, True), (500, True), (503, True)]
)
async def test_http_errors(fetch: Fetch, pages: PageServer, code: int, retryable: bool) -> None:
    error = await refused(fetch, pages.url(f"/status/{code}"))
    assert error.message.startswith(f"{pages.url(f'/status/{code}')} answered HTTP {code} ")
    assert error.retryable is retryable


async def test_no_content_is_not_a_page(fetch: Fetch, pages: PageServer) -> None:
    error = await refused(fetch, pages.url("/status/204"))
    assert error.message == f"{pages.url('/status/204')} answered HTTP 204 No Content, not a page"


async def test_slow_page_past_the_deadline(fetch: Fetch, pages: PageServer) -> None:
    started = time.monotonic()
    error = await refused(fetch, pages.url("/slow/cnn.html?delay=3"), fetch_total_timeout_s=0.5)
    assert time.monotonic() - started < 2
    assert error.message == f"fetching {pages.url('/slow/cnn.html?delay=3')} took longer than the 0.5 s limit"
    assert error.retryable


async def test_read_timeout(fetch: Fetch, pages: PageServer) -> None:
    error = await refused(fetch, pages.url("/slow/cnn.html?delay=2"), fetch_read_timeout_s=0.3)
    assert error.message == "127.0.0.1 sent nothing for 0.3 s"
    assert error.retryable


async def test_connection_refused_is_retryable(fetch: Fetch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    error = await refused(fetch, f"http://127.0.0.1:{port}/", fetch_allowed_hosts=f"127.0.0.1:{port}")
    assert error.message.startswith("could not connect to 127.0.0.1")
    assert error.retryable


# --- what is not a fetchable URL ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1:70/_x",
        "javascript:alert(1)",
        "data:text/html,hi",
        "dict://127.0.0.1:11211/",
    ],
)
async def test_other_schemes_are_refused(fetch: Fetch, url: str) -> None:
    error = await refused(fetch, url)
    assert error.message.startswith("only http and https URLs can be fetched; ")
    assert not error.retryable


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "fetch_url needs a 'url' parameter"),
        ("example.com/page", "only http and https URLs can be fetched; a URL without a scheme is refused"),
        ("http://", "not a valid URL"),
        ("http://user:secret@127.0.0.1/", "URLs with a user name or password are not fetched"),
        ("http://0177.0.0.1/", "not a valid URL"),
        ("http://1.2.3.4.5/", "blocked: 1.2.3.4.5 is not a valid IP address"),
    ],
)
async def test_bad_urls(fetch: Fetch, url: str, message: str) -> None:
    assert (await refused(fetch, url)).message.startswith(message)


async def test_missing_url_parameter() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(StepError, match="fetch_url needs a 'url' parameter"):
            await fetch_url.run({}, None, StepContext(WorkerSettings(), http, "task", 0))


# --- decoding ---------------------------------------------------------------------------------------

RUSSIAN = "<p>" + "Привет, мир! Это статья о том, как работают очереди сообщений. " * 3


@pytest.mark.parametrize(
    ("body", "declared", "media", "text", "charset"),
    [
        ("café".encode(), "utf-8", "text/html", "café", "utf-8"),
        ("café".encode("cp1252"), "iso-8859-1", "text/html", "café", "cp1252"),
        ("“quoted”".encode("cp1252"), "latin1", "text/plain", "“quoted”", "cp1252"),
        (
            b'<meta charset="windows-1251"><p>' + "привет".encode("cp1251"),
            None,
            "text/html",
            '<meta charset="windows-1251"><p>привет',
            "cp1251",
        ),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15"><p>\xa4',
            None,
            "text/html",
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15"><p>€',
            "iso8859-15",
        ),
        ("naïve".encode(), None, "text/html", "naïve", "utf-8"),
        ("naïve".encode("cp1252"), None, "text/html", "naïve", "cp1252"),
        (b"\xef\xbb\xbfbom", "cp1252", "text/html", "bom", "utf-8"),
        ("ünïcode".encode("utf-16-le").join([b"\xff\xfe", b""]), None, "text/plain", "ünïcode", "utf-16-le"),
        (b"x", "no-such-charset", "text/plain", "x", "utf-8"),
        # labels of Python codecs that are no web text encoding: ignored, as browsers do
        ("café".encode(), "rot13", "text/html", "café", "utf-8"),
        ("café".encode(), "base64", "text/html", "café", "utf-8"),
        ("café".encode(), "hex", "text/plain", "café", "utf-8"),
        ("café".encode("cp1252"), "zlib", "text/html", "café", "cp1252"),
        (b"+ADw-script+AD4-", "utf-7", "text/html", "+ADw-script+AD4-", "utf-8"),
        (b"\\u003cscript", "unicode_escape", "text/html", "\\u003cscript", "utf-8"),
        (
            b'<meta charset="rot13"><p>caf\xc3\xa9',
            None,
            "text/html",
            '<meta charset="rot13"><p>café',
            "utf-8",
        ),
        (
            b'<meta charset="base64"><p>caf\xe9',
            "hex",
            "text/html",
            '<meta charset="base64"><p>café',
            "cp1252",
        ),
        # WHATWG labels Python knows under another name, and a <meta> that cannot be UTF-16
        (b"\x93\xfa\x96{", "windows-31j", "text/plain", "日本", "cp932"),
        (
            b'<meta charset="utf-16"><p>caf\xc3\xa9',
            None,
            "text/html",
            '<meta charset="utf-16"><p>café',
            "utf-8",
        ),
        # nothing declared, not UTF-8: a confident detection, else windows-1252
        (RUSSIAN.encode("cp1251"), None, "text/html", RUSSIAN, "cp1251"),
    ],
)
def test_decode(body: bytes, declared: str | None, media: str, text: str, charset: str) -> None:
    assert fetch_url.decode(body, declared, media) == (text, charset)


@pytest.mark.parametrize("label", ["rot13", "base64", "hex", "utf-7", "bz2", "uu", "quopri", "punycode"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
async def test_pages_declaring_a_codec_that_is_no_text_encoding(
    fetch: Fetch, pages: PageServer, label: str, encoding: str
) -> None:
    """A real fetch of a page whose header and <meta> name a non-text codec: the step never
    crashes, the label is ignored and the text comes out right."""
    out = await fetch(pages.url(f"/charset?header={label}&meta={label}&encoding={encoding}"))
    assert out["charset"] == encoding
    assert f"<title>{CHARSET_TITLE}</title>" in out["html"]
    assert "Le café de Zürich sert un thé très naïf." in out["html"]


def test_content_type_header() -> None:
    assert fetch_url.content_type('Text/HTML; Charset="UTF-8"') == ("text/html", "UTF-8")
    assert fetch_url.content_type("application/xhtml+xml") == ("application/xhtml+xml", None)
    assert fetch_url.content_type("") == ("", None)


# --- compressed bodies ------------------------------------------------------------------------------

ENCODINGS = ["gzip", "deflate", "raw-deflate", "br", "gzip, br"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_compressed_pages_are_inflated(fetch: Fetch, pages: PageServer, encoding: str) -> None:
    out = await fetch(pages.url(f"/encoded?encoding={quote(encoding)}&page=cnn"))
    assert out["html"] == page_file("cnn", "source.html").read_text("utf-8")


async def test_the_request_asks_only_for_encodings_it_can_bound(
    fetch: Fetch, pages: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    original = httpx.AsyncClient.send

    async def spy(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        sent.append(request.headers["accept-encoding"])
        return await original(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    await fetch(pages.url("/pages/cnn.html"))
    assert sent == ["gzip, deflate, br"]


async def streamed(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_an_encoding_not_asked_for_is_refused() -> None:
    response = httpx.Response(
        200,
        headers={"content-type": "text/html", "content-encoding": "zstd"},
        content=streamed(b"(\xb5/\xfd"),
    )
    with pytest.raises(
        StepError,
        match=r"sent its body in the zstd encoding, which was not asked for "
        r"\(accepted: gzip, deflate, br\)",
    ):
        await fetch_url.read_capped(response, httpx.URL("http://example.com/"), 10_000)


async def test_a_corrupt_compressed_body_is_a_clear_error() -> None:
    response = httpx.Response(
        200,
        headers={"content-type": "text/html", "content-encoding": "gzip"},
        content=streamed(b"\x1f\x8b\x08\x00not gzip at all"),
    )
    with pytest.raises(StepError, match=r"sent a body that could not be decompressed \(gzip: "):
        await fetch_url.read_capped(response, httpx.URL("http://example.com/"), 10_000)


BOMB_BYTES = 50_000_000  # inflated size; a few KiB (br: bytes) on the wire
CAP = 1_000_000
# what the step may hold beyond the cap: one decompressed piece (64 KiB, brotli's output
# blocks a little more), one network chunk, zlib's window, BytesIO's growth, httpx's buffers
MARGIN = 1_000_000


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_compression_bomb_costs_the_cap_not_its_size(
    fetch: Fetch, pages: PageServer, encoding: str
) -> None:
    """A real bomb from the page server: refused at the byte cap, and the step's peak of
    traced memory stays within the cap plus a small margin (httpx alone inflates a whole
    network chunk, tens of megabytes, before any check)."""
    url = pages.url(f"/encoded?encoding={quote(encoding)}&zeros={BOMB_BYTES}")
    compressed(encoding, zeros=BOMB_BYTES)  # made before measuring: the server's share is not the step's
    tracemalloc.start()
    try:
        error = await refused(fetch, url, fetch_max_bytes=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.message == f"{url} is larger than the {CAP:,} byte limit; stopped reading there"
    assert not error.retryable
    print(f"{encoding} bomb of {BOMB_BYTES:,} bytes: peak {peak:,} bytes traced for a {CAP:,} byte cap")
    assert peak < CAP + MARGIN, f"peak {peak:,} bytes"
