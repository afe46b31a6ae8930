"""Reverse-proxy headers, the one way for the gateway's proxy and the frontend's /api proxy.

A request passes on without its hop-by-hop headers (RFC 9110 section 7.6.1, and any that a
Connection header names) and without what the proxy states itself: instead of the client's
claims the proxy sets X-Forwarded-For (the chain so far plus the peer), X-Forwarded-Proto
and X-Request-ID. A response passes back without its hop-by-hop headers and without Server,
Date and X-Request-ID, which uvicorn and the request-id middleware set.

Headers are ASGI's: (lower-case name, value) byte pairs. The gateway calls this on every
proxied request, so each direction is one pass over the headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# what the proxy states itself (or its HTTP client computes), never the client's copy
PROXY_SETS = frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"x-request-id",
    }
)
REQUEST_DROP = HOP_BY_HOP | PROXY_SETS
RESPONSE_DROP = HOP_BY_HOP | {b"server", b"date", b"x-request-id"}
EVENT_STREAM = b"text/event-stream"
_PROTOS = (b"http", b"https")

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Outgoing:
    """A request's headers as they pass on, and what the proxy needs from the ones it drops."""

    headers: Headers
    chain: list[bytes]  # the client's X-Forwarded-For values
    claimed_proto: bytes | None  # the client's X-Forwarded-Proto
    content_length: int | None
    has_body: bool


def request_headers(headers: Headers, drop: frozenset[bytes] = REQUEST_DROP) -> Outgoing:
    """The headers to pass on (every name in `drop` left out; it must hold REQUEST_DROP)."""
    kept: Headers = []
    chain: list[bytes] = []
    named: set[bytes] = set()
    claimed = content_length = None
    has_body = False
    for name, value in headers:
        if name not in drop:
            kept.append((name, value))
        elif name == b"x-forwarded-for":
            chain.append(value)
        elif name == b"content-length":
            content_length = int(value)  # digits only: the body-limit middleware checked
            has_body = content_length > 0
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"x-forwarded-proto":
            claimed = value
        elif name == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    if named - HOP_BY_HOP:  # "Connection: X-Secret" makes X-Secret hop-by-hop too
        named -= HOP_BY_HOP
        kept = [(n, v) for n, v in kept if n not in named]
    return Outgoing(kept, chain, claimed, content_length, has_body)


def forwarded_for(chain: list[bytes], scope: Scope) -> bytes:
    """The chain so far plus the peer. When a trusted proxy in front made the chain's last
    address the peer (uvicorn's proxy_headers), it is not added twice."""
    client = scope.get("client")
    peer = (client[0] if client else "unknown").encode()
    if not chain:  # the common case, on every proxied request
        return peer
    hops = [h.strip() for h in b",".join(chain).split(b",") if h.strip()]
    if not hops or hops[-1] != peer:
        hops.append(peer)
    return b", ".join(hops)


def forwarded_proto(claimed: bytes | None, scheme: str) -> bytes:
    """https when the request reached us (or the proxy before us) over TLS: the first value
    of the claim when it is http or https, else the scheme it reached us by."""
    if claimed:
        value = claimed.split(b",")[0].strip().lower()
        if value in _PROTOS:
            return value
    return scheme.encode()


def claimed_proto(headers: Headers) -> bytes | None:
    return next((v for n, v in headers if n == b"x-forwarded-proto"), None)


def forwarding_headers(out: Outgoing, scope: Scope, request_id: str, *, trust_proto: bool = True) -> Headers:
    """X-Forwarded-For, X-Forwarded-Proto and X-Request-ID for the request `out` describes.
    Without `trust_proto` the client's X-Forwarded-Proto is ignored (uvicorn has already taken
    a trusted proxy's into the scheme)."""
    proto = forwarded_proto(out.claimed_proto if trust_proto else None, scope["scheme"])
    headers = [(b"x-forwarded-for", forwarded_for(out.chain, scope)), (b"x-forwarded-proto", proto)]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    return headers


def client_address(scope: Scope, trusted_hops: int) -> str:
    """The client's address: the peer, or the entry that the trusted proxies in front added."""
    if trusted_hops:
        chain = [v for n, v in scope["headers"] if n == b"x-forwarded-for"]
        hops = [h.strip() for h in b",".join(chain).split(b",") if h.strip()]
        if hops:
            return hops[-min(trusted_hops, len(hops))].decode("latin-1")
    client = scope.get("client")
    return client[0] if client else "unknown"


def response_headers(headers: Headers) -> tuple[Headers, bool]:
    """(the headers to pass back, whether the body is an event stream)."""
    kept: Headers = []
    event_stream = False
    named: set[bytes] | None = None
    for name, value in headers:
        if name in RESPONSE_DROP:
            if name == b"connection":
                named = (named or set()) | {t.strip().lower() for t in value.split(b",")}
            continue
        if name == b"content-type" and value.startswith(EVENT_STREAM):
            event_stream = True
        kept.append((name, value))
    if named:  # "Connection: X-Internal" makes X-Internal hop-by-hop: it ends here
        kept = [(n, v) for n, v in kept if n not in named]
    return kept, event_stream
