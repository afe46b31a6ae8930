"""The /api proxy: what goes up, what comes down, streaming, and each way it can fail."""

from __future__ import annotations

import httpx

from tests.frontend.conftest import StandInGateway
from tests.frontend.test_page_serving import raw_get


def test_forwards_method_path_query_body_and_cookies(frontend: str) -> None:
    response = httpx.post(
        f"{frontend}/api/echo?a=1&b=%2F",
        content=b'{"x": 1}',
        headers={"content-type": "application/json", "cookie": "session=abc"},
    )
    assert response.status_code == 200
    seen = response.json()
    headers = dict(seen["headers"])
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == (
        "POST",
        "/api/echo",
        "a=1&b=%2F",
        '{"x": 1}',
    )
    assert headers["cookie"] == "session=abc"
    assert headers["content-type"] == "application/json"
    assert response.headers["x-upstream"] == "yes"


def test_sets_forwarded_headers_and_drops_hop_by_hop(frontend: str) -> None:
    response = httpx.get(
        f"{frontend}/api/echo",
        headers={
            "x-forwarded-for": "203.0.113.9",
            "connection": "keep-alive, x-private",
            "x-private": "secret",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "x-request-id": "abc-123",
        },
    )
    headers = dict(response.json()["headers"])
    # from loopback (a trusted proxy to uvicorn) the chain's last address is the client
    assert headers["x-forwarded-for"] == "203.0.113.9"
    direct = dict(httpx.get(f"{frontend}/api/echo").json()["headers"])
    assert direct["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert "x-private" not in headers and "keep-alive" not in headers and "te" not in headers
    # one request id end to end: the caller's, echoed once
    assert headers["x-request-id"] == "abc-123"
    assert response.headers.get_list("x-request-id") == ["abc-123"]


def test_every_set_cookie_comes_down(frontend: str) -> None:
    response = httpx.post(f"{frontend}/api/session")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert any(c.startswith("session=t") and "HttpOnly" in c for c in cookies)


def test_one_browsers_cookie_never_reaches_another(frontend: str) -> None:
    assert httpx.post(f"{frontend}/api/session").headers.get_list("set-cookie")
    # a different browser, with no cookie of its own
    headers = dict(httpx.get(f"{frontend}/api/echo").json()["headers"])
    assert "cookie" not in headers


def test_event_stream_passes_through_event_by_event(frontend: str, gateway: StandInGateway) -> None:
    gateway.release.clear()
    with httpx.stream(
        "POST",
        f"{frontend}/api/stream",
        headers={"accept": "text/event-stream"},
        json={"message": "hi"},
        timeout=5,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        # the second event is held upstream until we let it go: the first must already be here
        assert b"first" in next(chunks)
        gateway.release.set()
        rest = b"".join(chunks)
    assert b"second" in rest and b"event: done" in rest


def test_gateway_down_is_a_503_in_json(frontend_gateway_down: str) -> None:
    response = httpx.get(f"{frontend_gateway_down}/api/tasks")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert "unavailable" in response.json()["detail"]
    assert response.headers["retry-after"]


def test_slow_gateway_is_a_504_in_json(frontend: str) -> None:
    response = httpx.get(f"{frontend}/api/slow", timeout=5)
    assert response.status_code == 504
    assert "detail" in response.json()


def test_dot_segments_are_refused(frontend: str) -> None:
    for path in ("/api/../admin", "/api/x/%2e%2e/%2e%2e/metrics"):
        response = raw_get(frontend, path)
        assert response.status_code == 400, path
        assert "detail" in response.json()


def test_body_over_the_limit_is_a_413(frontend: str) -> None:
    response = httpx.post(f"{frontend}/api/echo", content=b"x" * 5000)
    assert response.status_code == 413
    assert "detail" in response.json()


def test_upstream_cannot_weaken_the_security_headers(frontend: str) -> None:
    response = httpx.get(f"{frontend}/api/weak-csp")
    assert response.headers.get_list("content-security-policy") == [
        response.headers["content-security-policy"]
    ]
    assert "default-src 'self'" in response.headers["content-security-policy"]
