"""Cross-site requests: a page on another site (or a sibling subdomain) must not be able to
make a browser replace the user's session or act with its cookie. What browsers send is
reproduced here header by header (tests/browser shows the page's own requests still pass);
Bearer clients (agentctl) and clients that are not browsers are unaffected."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.conftest import new_session

Http = httpx.AsyncClient
CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://sibling.example.org"},  # a sibling subdomain
    {"Origin": "https://evil.example"},  # an older browser: Origin only
    {"Origin": "null"},  # a sandboxed frame or a data: page
]


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_a_cross_site_page_cannot_create_a_session(
    client: Http, gw: str, headers: dict[str, str]
) -> None:
    answer = await client.post(f"{gw}/api/session", headers=headers)
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith(("cross-site request refused", "cross-origin request refused"))
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_a_cross_site_page_cannot_act_with_the_cookie(
    client: Http, gw: str, headers: dict[str, str]
) -> None:
    session = await new_session(client, gw)
    cookie = {"Cookie": f"session={session.token}"}
    for path in ("/api/tasks/abc/cancel", "/api/task", "/api/chat", "/api/session/revoke"):
        sent = {**cookie, **headers, "Content-Type": "application/json"}
        answer = await client.post(gw + path, headers=sent, content=b"{}")
        assert answer.status_code == 403, path
    # the session was not revoked
    assert (await client.get(f"{gw}/api/session", headers=cookie)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://wherever"},  # Sec-Fetch-Site decides
        {"Sec-Fetch-Site": "none"},  # the user's own action
        {},  # not a browser (curl, agentctl)
    ],
)
async def test_own_page_and_non_browsers_are_served(client: Http, gw: str, headers: dict[str, str]) -> None:
    created = await client.post(f"{gw}/api/session", headers=headers)
    assert created.status_code == 201
    cookie = {"Cookie": f"session={created.json()['session_token']}"}
    answer = await client.post(f"{gw}/api/tasks/abc/cancel", headers={**cookie, **headers})
    assert answer.status_code == 200


async def test_origin_matching_the_host_or_the_forwarded_host_is_served(client: Http, gw: str) -> None:
    host = gw.removeprefix("http://")
    assert (await client.post(f"{gw}/api/session", headers={"Origin": gw})).status_code == 201
    through_proxy = {
        "Origin": "http://app.example:3000",
        "X-Forwarded-Host": "app.example:3000",
        "Host": host,
    }
    assert (await client.post(f"{gw}/api/session", headers=through_proxy)).status_code == 201


async def test_bearer_requests_are_not_cookie_requests(client: Http, gw: str) -> None:
    """A page cannot add an Authorization header cross-site without a CORS preflight."""
    session = await new_session(client, gw)
    answer = await client.post(
        f"{gw}/api/tasks/abc/cancel", headers={**session.bearer, "Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_json_routes_refuse_bodies_that_are_not_declared_json(
    client: Http, gw: str, content_type: str | None
) -> None:
    """What a form or a no-cors fetch can send without a preflight is never taken as JSON."""
    session = await new_session(client, gw)
    headers = {**session.bearer, **({"Content-Type": content_type} if content_type else {})}
    for path in ("/api/task", "/api/chat"):
        answer = await client.post(gw + path, headers=headers, content=b'{"title": "t", "message": "m"}')
        assert answer.status_code == 415, (path, answer.text)
        assert answer.json() == {"detail": "the request body must be JSON (Content-Type: application/json)"}
    ok = await client.post(
        f"{gw}/api/task",
        headers={**session.bearer, "Content-Type": "application/json"},
        content=b'{"title": "t"}',
    )
    assert ok.status_code == 200


async def test_the_refusals_the_gateway_decides_are_in_its_openapi(client: Http, gw: str) -> None:
    """A client generated from /openapi.json knows the 403 (cross-site), 408 (slow body) and
    415 (not JSON) answers of the routes that give them, and only of those."""
    paths = (await client.get(f"{gw}/openapi.json")).json()["paths"]
    for path in ("/api/session", "/api/session/revoke", "/api/task", "/api/chat", "/api/tasks/{id}/cancel"):
        assert "403" in paths[path]["post"]["responses"], path
    for path in ("/api/task", "/api/chat"):
        assert {"408", "415"} <= set(paths[path]["post"]["responses"]), path
    assert "415" not in paths["/api/tasks/{id}/cancel"]["post"]["responses"]
    assert not {"403", "408", "415"} & set(paths["/api/tasks"]["get"]["responses"])
