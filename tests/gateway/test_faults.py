"""Upstreams that are down (503) or broken (502), through a gateway whose orchestrator URL
is a port nobody listens on and whose chat URL is a raw socket server that misbehaves."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.conftest import Gateway, new_session

Http = httpx.AsyncClient


@pytest.fixture
def faulty(gateways: dict[str, Gateway]) -> str:
    return gateways["faulty"].url


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/task"),
        ("GET", "/api/tasks"),
        ("GET", "/api/tasks/abc"),
        ("POST", "/api/tasks/abc/cancel"),
    ],
)
async def test_upstream_down_is_503_naming_it(client: Http, faulty: str, method: str, path: str) -> None:
    session = await new_session(client, faulty)
    answer = await client.request(method, faulty + path, headers=session.bearer, json={"title": "t"})
    assert answer.status_code == 503
    assert answer.json() == {"detail": "upstream orchestrator refused the connection"}
    assert answer.headers["retry-after"] == "2"


@pytest.mark.parametrize("behaviour", ["garbage", "close", "reset"])
async def test_broken_upstream_is_502_naming_it(client: Http, faulty: str, behaviour: str) -> None:
    session = await new_session(client, faulty)
    answer = await client.post(f"{faulty}/api/chat", headers=session.bearer, json={"message": behaviour})
    assert answer.status_code == 502, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("upstream chat ")
    assert "Traceback" not in answer.text


async def test_upstream_dying_mid_body_cuts_the_response(client: Http, faulty: str) -> None:
    session = await new_session(client, faulty)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(f"{faulty}/api/chat", headers=session.bearer, json={"message": "partial"})


async def test_the_pool_recovers_after_broken_connections(client: Http, faulty: str) -> None:
    session = await new_session(client, faulty)
    for behaviour in ("garbage", "reset", "close"):
        await client.post(f"{faulty}/api/chat", headers=session.bearer, json={"message": behaviour})
    for _ in range(5):
        answer = await client.post(f"{faulty}/api/chat", headers=session.bearer, json={"message": "fine"})
        assert answer.status_code == 200
        assert answer.json() == {"ok": True}


async def test_database_down_is_503_json_not_a_stack_trace(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    base = gateways["nodb"].url
    created = await client.post(f"{base}/api/session")
    assert created.status_code == 503
    assert created.json() == {"detail": "database unavailable, try again shortly"}
    looked_up = await client.get(f"{base}/api/tasks", headers={"Authorization": f"Bearer {'A' * 43}"})
    assert looked_up.status_code == 503
    assert looked_up.json() == {"detail": "session store unavailable, try again shortly"}
    assert looked_up.headers["retry-after"] == "2"
    assert (await client.get(f"{base}/health")).status_code == 200
    ready = await client.get(f"{base}/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgres"].startswith("down")
