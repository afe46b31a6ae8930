"""Cross-site request checks for cookie-authenticated requests (the gateway and the
frontend's /api proxy both apply them).

A browser attaches the session cookie to a request another site makes it send (a form, a
fetch without CORS), so an unsafe request that a cookie authenticates must show that it
came from our own page. Browsers say where a request came from:
- `Sec-Fetch-Site` (every current browser): only `same-origin` (our page) and `none` (the
  user's own action) pass; `same-site` is refused too, since a sibling subdomain is
  another site's code;
- without it, `Origin`: it must name the request's own host (as the client addressed it,
  `Host`, or as the proxy in front saw it, `X-Forwarded-Host`) or a trusted origin.
A request with neither is not from a browser that could be made to send it (agentctl,
curl), and one with `Authorization: Bearer` is not cookie-authenticated: a page cannot add
that header to a cross-site request without a CORS preflight, which nothing here allows.
Headers other sites cannot set (X-Forwarded-Host included) can be trusted for this.
"""

from __future__ import annotations

from starlette.types import Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOWED_SITES = (b"same-origin", b"none")


def refusal(scope: Scope, trusted_origins: frozenset[bytes] = frozenset()) -> str | None:
    """Why this request must be refused as cross-site, or None when it may go on."""
    if scope["method"] in SAFE_METHODS:
        return None
    fetch_site = origin = None
    hosts: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"sec-fetch-site":
            fetch_site = value.strip().lower()
        elif name == b"origin":
            origin = value.strip().lower()
        elif name in (b"host", b"x-forwarded-host"):
            hosts.extend(h.strip().lower() for h in value.split(b","))
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            return None
    if fetch_site is not None:
        if fetch_site in _ALLOWED_SITES:
            return None
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site.decode('latin-1')})"
    if origin is None or origin in trusted_origins:
        return None
    _, _, authority = origin.partition(b"://")
    if authority and authority in hosts:
        return None
    return f"cross-origin request refused (Origin: {origin.decode('latin-1')[:100]})"
