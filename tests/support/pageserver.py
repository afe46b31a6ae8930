"""A real HTTP server on 127.0.0.1 for the fetch tests: fixture pages, slow pages,
redirects and a hit counter, so a test can assert that a refused address got no traffic."""

from __future__ import annotations

import contextlib
import functools
import gzip
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import brotli

from tests.shared_data import page_file

_COMPRESS = {
    "gzip": lambda data: gzip.compress(data, 6),
    "deflate": lambda data: zlib.compress(data, 6),
    "raw-deflate": lambda data: _raw_deflate(data),
    "br": lambda data: brotli.compress(data, quality=5),
}


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


@functools.cache
def compressed(encoding: str, *, page: str = "", zeros: int = 0) -> bytes:
    """A page (or `zeros` zero bytes) with each of the comma-separated encodings applied in
    order, as a server lists them in Content-Encoding. Cached: a bomb is made once."""
    data = page_file(page, "source.html").read_bytes() if page else bytes(zeros)
    for name in (n.strip() for n in encoding.split(",")):
        data = _COMPRESS[name](data)
    return data


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up early (a byte cap, a timeout) is expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class PageServer:
    """Routes:
    /pages/<name>.html              the fixture page's source.html
    /slow/<name>.html?delay=S       the same after S seconds
    /flaky/<name>.html?fails=N      503 for the first N requests of this exact target, then the page
    /redirect?to=URL[&code=302]     a redirect to URL
    /text                           a plain-text article
    /status/<code>                  an empty answer with that status
    /big?bytes=N                    N bytes of HTML
    /binary                         an image/png body
    /encoded?encoding=E&page=NAME   the fixture page with Content-Encoding E (gzip, deflate,
                                    raw-deflate, br, or a list such as "gzip, br")
    /encoded?encoding=E&zeros=N     a compression bomb: N zero bytes of "HTML", compressed
    /charset?header=L&meta=L&encoding=E
                                    an article with accents, encoded in E (utf-8), its
                                    Content-Type declaring charset L and a <meta charset=L>
    /linking?to=URL                 an HTML article that links to URL
    Every request is counted in `hits` by path, and in `targets` by path and query."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: without this, Nagle's algorithm
            # and delayed ACKs add 40 ms to every answer
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with server.lock:
                    server.hits[parts.path] += 1
                    server.targets[self.path] += 1
                server.route(self, parts.path, query)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> PageServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def total_hits(self) -> int:
        with self.lock:
            return sum(self.hits.values())

    def route(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]) -> None:
        if path.startswith("/pages/") and path.endswith(".html"):
            self._page(h, path.removeprefix("/pages/").removesuffix(".html"))
        elif path.startswith("/slow/") and path.endswith(".html"):
            time.sleep(float(query.get("delay", ["1"])[0]))
            self._page(h, path.removeprefix("/slow/").removesuffix(".html"))
        elif path.startswith("/flaky/") and path.endswith(".html"):
            with self.lock:
                seen = self.targets[h.path]
            if seen <= int(query.get("fails", ["1"])[0]):
                self._send(h, 503, b"try again", "text/plain")
            else:
                self._page(h, path.removeprefix("/flaky/").removesuffix(".html"))
        elif path == "/redirect":
            code = int(query.get("code", ["302"])[0])
            self._send(h, code, b"", "text/html", extra={"Location": query["to"][0]})
        elif path == "/text":
            self._send(h, 200, TEXT_ARTICLE.encode(), "text/plain; charset=utf-8")
        elif path.startswith("/status/"):
            self._send(h, int(path.rsplit("/", 1)[1]), b"", "text/html")
        elif path == "/big":
            size = int(query.get("bytes", ["3000000"])[0])
            self._send(h, 200, b"<html><body><p>" + b"x" * size + b"</p></body></html>", "text/html")
        elif path == "/encoded":
            self._encoded(h, query)
        elif path == "/charset":
            self._charset(h, query)
        elif path == "/linking":
            self._send(h, 200, linking_article(query["to"][0]).encode(), "text/html; charset=utf-8")
        elif path == "/binary":
            self._send(h, 200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
        else:
            self._send(h, 404, b"not found", "text/plain")

    def _page(self, h: BaseHTTPRequestHandler, name: str) -> None:
        try:
            body = page_file(name, "source.html").read_bytes()
        except KeyError:
            self._send(h, 404, b"no such page", "text/plain")
            return
        self._send(h, 200, body, "text/html; charset=utf-8")

    def _encoded(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        encoding = query.get("encoding", ["gzip"])[0]
        if "zeros" in query:
            body = compressed(encoding, zeros=int(query["zeros"][0]))
        else:
            body = compressed(encoding, page=query.get("page", ["cnn"])[0])
        header = "deflate" if encoding == "raw-deflate" else encoding
        self._send(h, 200, body, "text/html; charset=utf-8", extra={"Content-Encoding": header})

    def _charset(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        header, meta = query.get("header", [""])[0], query.get("meta", [""])[0]
        body = charset_page(f'<meta charset="{meta}">' if meta else "")
        ctype = f"text/html; charset={header}" if header else "text/html"
        self._send(h, 200, body.encode(query.get("encoding", ["utf-8"])[0]), ctype)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            h.send_header(key, value)
        h.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(body)


TEXT_ARTICLE = """\
Redis streams are an append-only log data structure. They were added in Redis 5.0 and
support consumer groups, which let several workers share the messages of one stream.

Each message in a consumer group is delivered to one consumer. The consumer must
acknowledge the message once it has processed it. Until then the message stays in the
pending entries list of the group.

When a consumer dies, its pending messages can be claimed by another consumer after they
have been idle for a while. This is how a worker pool survives a crash without losing work.

A message that fails again and again should not be retried forever. Systems usually move
it to a dead-letter stream after a fixed number of deliveries and report the failure.

Streams can be trimmed to bound their memory. Deleting messages once they are handled
keeps the stream as long as the backlog, which is a useful signal for autoscaling.
"""


CHARSET_TITLE = "Un café à Zürich"


def charset_page(head: str) -> str:
    """An article whose title and first paragraph need more than ASCII."""
    paragraphs = "".join(f"<p>{p}</p>" for p in TEXT_ARTICLE.split("\n\n"))
    return (
        f"<!doctype html><html><head>{head}<title>{CHARSET_TITLE}</title></head><body><article>"
        f"<h1>{CHARSET_TITLE}</h1><p>Le café de Zürich sert un thé très naïf.</p>{paragraphs}"
        "</article></body></html>"
    )


def linking_article(target: str) -> str:
    """TEXT_ARTICLE as an HTML page whose last paragraph links to `target`."""
    from html import escape

    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in TEXT_ARTICLE.split("\n\n"))
    link = f'<p>A follow-up explains retries: <a href="{escape(target)}">retries explained</a>.</p>'
    return (
        f"<!doctype html><html><head><title>Redis streams</title></head><body><article>"
        f"<h1>Redis streams</h1>{paragraphs}{link}</article></body></html>"
    )
