"""The proxy against a loopback upstream: routing, headers both ways, streaming both ways,
limits and timeouts."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import time

import httpx
import pytest

from tests.gateway.conftest import Gateway, new_session, upstream_headers
from tests.gateway.upstreams import BIG_CHUNK, BIG_CHUNKS, SSE_DONE, SSE_FIRST, EchoUpstream

Http = httpx.AsyncClient
ROUTES = [
    ("POST", "/api/chat", "/chat"),
    ("POST", "/api/task", "/task"),
    ("GET", "/api/tasks", "/tasks"),
    ("GET", "/api/tasks/7d4f0c1e-2b7a-4c1e-9d57-0f3e1c2b3a4d", "/task/7d4f0c1e-2b7a-4c1e-9d57-0f3e1c2b3a4d"),
    ("POST", "/api/tasks/abc-123/cancel", "/task/abc-123/cancel"),
    ("GET", "/api/tools", "/tools"),
]


@pytest.mark.parametrize(("method", "path", "upstream_path"), ROUTES)
async def test_each_route_reaches_its_upstream_path(
    client: Http, gw: str, method: str, path: str, upstream_path: str
) -> None:
    session = await new_session(client, gw)
    body = b'{"message":"hi"}' if method == "POST" else None
    headers = {**session.bearer, "Content-Type": "application/json"}
    answer = await client.request(method, gw + path, headers=headers, content=body)
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    assert (echoed["method"], echoed["path"]) == (method, upstream_path)
    if body:
        assert echoed["body"] == body.decode()


async def test_own_chat_history_is_forwarded_and_another_users_is_404(client: Http, gw: str) -> None:
    me, other = await new_session(client, gw), await new_session(client, gw)
    mine = await client.get(f"{gw}/api/chat/history/{me.user_id}", headers=me.bearer)
    assert mine.status_code == 200
    assert mine.json()["path"] == f"/chat/history/{me.user_id}"
    theirs = await client.get(f"{gw}/api/chat/history/{other.user_id}", headers=me.bearer)
    assert theirs.status_code == 404
    assert theirs.json() == {"detail": "not found"}


async def test_query_string_is_passed_on(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    answer = await client.get(f"{gw}/api/tasks?limit=5&x=%0d%0a", headers=session.bearer)
    assert answer.json()["query"] == "limit=5&x=%0d%0a"


async def test_unknown_api_path_and_wrong_method_are_json(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    missing = await client.get(f"{gw}/api/nothing-here", headers=session.bearer)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = await client.delete(f"{gw}/api/tasks", headers=session.bearer)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert "detail" in wrong.json()


async def test_parameters_that_are_not_ids_do_not_route(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    for path in ("/api/tasks/..%2F..%2Fadmin", "/api/tasks/a%0d%0aX-Injected:%201", "/api/tasks/a.b"):
        answer = await client.get(gw + path, headers=session.bearer)
        assert answer.status_code == 404, path


# ---- headers ------------------------------------------------------------------------------------


async def test_request_headers_hop_by_hop_dropped_and_forwarding_headers_set(
    client: Http, gw: str, echo: EchoUpstream
) -> None:
    session = await new_session(client, gw)
    answer = await client.get(
        f"{gw}/api/tasks",
        headers={
            **session.bearer,
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=198.51.100.1",
            "X-User-Id": "someone-else",
            "Cookie": "tracking=1",
            "X-Custom": "kept",
        },
    )
    assert answer.status_code == 200
    seen = upstream_headers(answer.json())
    for dropped in (
        "x-private-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "forwarded",
        "authorization",
        "cookie",
    ):
        assert dropped not in seen, dropped
    assert seen["x-custom"] == ["kept"]
    assert seen["x-user-id"] == [session.user_id]
    assert seen["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["host"] == [f"127.0.0.1:{echo.port}"]


async def test_forwarded_proto_is_the_scheme_without_a_proxy_header(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    seen = upstream_headers((await client.get(f"{gw}/api/tasks", headers=session.bearer)).json())
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]


async def test_response_headers_hop_by_hop_server_and_upstream_request_id_dropped(
    client: Http, gw: str
) -> None:
    session = await new_session(client, gw)
    answer = await client.get(f"{gw}/api/tasks", headers=session.bearer)
    assert answer.headers["x-upstream"] == "yes"
    assert "keep-alive" not in answer.headers
    assert "server" not in answer.headers
    assert answer.headers.get_list("x-request-id") != ["upstream-made-this-up"]
    assert len(answer.headers.get_list("x-request-id")) == 1


async def test_request_id_generated_when_absent_and_the_same_upstream(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    answer = await client.get(f"{gw}/api/tasks", headers=session.bearer)
    request_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert upstream_headers(answer.json())["x-request-id"] == [request_id]


async def test_request_id_echoed_when_given_and_replaced_when_unsafe(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    given = await client.get(f"{gw}/api/tasks", headers={**session.bearer, "X-Request-ID": "trace-42.a_b:c"})
    assert given.headers["x-request-id"] == "trace-42.a_b:c"
    assert upstream_headers(given.json())["x-request-id"] == ["trace-42.a_b:c"]
    unsafe = await client.get(f"{gw}/api/tasks", headers={**session.bearer, "X-Request-ID": "<script> x y"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    assert upstream_headers(unsafe.json())["x-request-id"] == [unsafe.headers["x-request-id"]]


def _raw_request(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


@pytest.mark.parametrize(
    "evil",
    [
        b"X-Request-ID: abc\rX-Injected: 1",
        b"X-Forwarded-For: 1.2.3.4\rX-Injected: 1",
        b"X-Custom: a\x00b",
    ],
)
async def test_crlf_and_control_characters_in_headers_never_reach_the_upstream(
    client: Http, gw: str, evil: bytes
) -> None:
    session = await new_session(client, gw)
    head = b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + session.token.encode()
    raw = await asyncio.to_thread(_raw_request, gw, head + b"\r\n" + evil + b"\r\nConnection: close\r\n\r\n")
    status_line = raw.split(b"\r\n", 1)[0]
    if b" 200 " in status_line:  # accepted: then nothing was injected upstream
        assert b"x-injected" not in raw.lower().split(b"\r\n\r\n", 1)[1]
    else:
        assert b" 400 " in status_line


async def test_bare_lf_header_injection_is_just_another_client_header(client: Http, gw: str) -> None:
    """A LF in a value ends the line: X-Injected is then a header the client sent, which is
    no worse than sending it outright. What matters is that X-User-Id stays the session's."""
    session = await new_session(client, gw)
    head = b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + session.token.encode()
    raw = await asyncio.to_thread(
        _raw_request, gw, head + b"\r\nX-Note: a\nX-User-Id: forged\r\nConnection: close\r\n\r\n"
    )
    if b" 200 " in raw.split(b"\r\n", 1)[0]:
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert b"forged" not in body
        assert session.user_id.encode() in body


# ---- streaming ----------------------------------------------------------------------------------


async def test_event_stream_arrives_chunk_by_chunk_with_no_read_timeout(
    client: Http, gw: str, echo: EchoUpstream
) -> None:
    session = await new_session(client, gw)
    echo.sse_pause_s = 1.5  # longer than this gateway's 1 s read timeout for other responses
    headers = {**session.bearer, "Accept": "text/event-stream"}
    async with client.stream("POST", f"{gw}/api/chat", headers=headers, json={"message": "hi"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        chunks = stream.aiter_raw()
        first = await asyncio.wait_for(anext(chunks), 5)
        # the upstream is still holding the rest back: this chunk came through on its own
        assert first == SSE_FIRST
        assert not echo.sse_gate.is_set()
        echo.sse_gate.set()
        rest = b"".join([chunk async for chunk in chunks])
    assert rest.endswith(SSE_DONE)


async def test_client_leaving_an_event_stream_closes_the_upstream_stream(
    client: Http, gw: str, echo: EchoUpstream
) -> None:
    session = await new_session(client, gw)
    headers = {**session.bearer, "Accept": "text/event-stream"}
    async with client.stream("POST", f"{gw}/api/chat", headers=headers, json={"message": "hi"}) as stream:
        await asyncio.wait_for(anext(stream.aiter_raw()), 5)
    deadline = time.monotonic() + 5
    while not echo.sse_disconnected.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert echo.sse_disconnected.is_set()


async def test_a_chunked_request_body_reaches_the_upstream_whole(
    client: Http, gw: str, echo: EchoUpstream
) -> None:
    """The gateway reads the body before it takes an upstream connection: a body the client
    sent in pieces, without a length, goes upstream whole with its Content-Length."""
    session = await new_session(client, gw)

    async def body():  # type: ignore[no-untyped-def]
        yield b'{"title": "t", "description": "' + b"a" * 1000
        await asyncio.sleep(0.2)
        yield b"b" * 1000 + b'"}'

    headers = {**session.bearer, "Content-Type": "application/json"}
    answer = await client.post(f"{gw}/api/task", headers=headers, content=body())
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    expected = len('{"title": "t", "description": "') + 2000 + 2
    assert len(echoed["body"]) == expected
    seen = upstream_headers(echoed)
    assert seen["content-length"] == [str(expected)]
    assert "transfer-encoding" not in seen


async def test_large_response_streams_through_intact(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    digest = hashlib.sha256()
    size = 0
    async with client.stream("GET", f"{gw}/api/tasks/big", headers=session.bearer) as stream:
        assert stream.status_code == 200
        async for chunk in stream.aiter_raw():
            digest.update(chunk)
            size += len(chunk)
    expected = hashlib.sha256(b"".join(bytes([i]) * BIG_CHUNK for i in range(BIG_CHUNKS)))
    assert size == BIG_CHUNK * BIG_CHUNKS
    assert digest.hexdigest() == expected.hexdigest()


async def test_connections_to_the_upstream_are_kept_alive_and_shared(
    client: Http, gw: str, echo: EchoUpstream
) -> None:
    session = await new_session(client, gw)
    ports = set()
    for _ in range(20):
        ports.add((await client.get(f"{gw}/api/tasks", headers=session.bearer)).json()["client_port"])
    assert len(ports) <= 2

    async def one(i: int) -> int:
        answer = await client.post(
            f"{gw}/api/task",
            content=b"%d" % i,
            headers={**session.bearer, "Content-Type": "application/json"},
        )
        assert answer.json()["body"] == str(i)
        return answer.status_code

    assert set(await asyncio.gather(*(one(i) for i in range(60)))) == {200}


# ---- limits and timeouts ------------------------------------------------------------------------


async def test_body_over_the_limit_is_413(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    headers = {**session.bearer, "Content-Type": "application/json"}
    declared = await client.post(f"{gw}/api/task", headers=headers, content=b"x" * 5000)
    assert declared.status_code == 413
    assert "detail" in declared.json()

    async def chunked():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"y" * 1000

    streamed = await client.post(f"{gw}/api/task", headers=headers, content=chunked())
    assert streamed.status_code == 413
    assert "detail" in streamed.json()


async def test_slow_upstream_is_504_naming_it(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    started = time.monotonic()
    answer = await client.get(f"{gw}/api/tasks/slow", headers=session.bearer)
    assert answer.status_code == 504
    assert "orchestrator" in answer.json()["detail"]
    assert time.monotonic() - started < 2.5  # the route's 1 s timeout, not the upstream's 3 s


async def test_upstream_stalling_mid_body_cuts_the_response(client: Http, gw: str) -> None:
    session = await new_session(client, gw)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"{gw}/api/tasks/stall", headers=session.bearer)
    # and the gateway goes on serving
    assert (await client.get(f"{gw}/api/tasks", headers=session.bearer)).status_code == 200


async def test_health_ready_and_metrics(client: Http, gateways: dict[str, Gateway]) -> None:
    base = gateways["echo"].url
    assert (await client.get(f"{base}/health")).json() == {"status": "ok"}
    ready = await client.get(f"{base}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    metrics = (await client.get(f"{base}/metrics")).text
    assert 'route="/api/tasks"' in metrics
    assert 'service="gateway"' in metrics
    not_ready = await client.get(f"{gateways['noredis'].url}/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["redis"].startswith("down")
