"""The upstream client against an upstream that is out of step or careless: a stray answer
after the real one, huge headers, a header its Connection names, a transfer coding other
than chunked, and a HEAD answer. Through a gateway (the raw socket upstream answers what
the request body names) and against the pool directly."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.gateway.conftest import Gateway, PoolOn, new_session

Http = httpx.AsyncClient
STRAY = (
    b"HTTP/1.1 302 Found\r\nlocation: https://evil.example/\r\nset-cookie: session=stolen\r\n"
    b"content-length: 5\r\n\r\nHELLO"
)


@pytest.fixture
def faulty(gateways: dict[str, Gateway]) -> str:
    return gateways["faulty"].url


async def _chat(client: Http, base: str, behaviour: str) -> httpx.Response:
    session = await new_session(client, base)
    return await client.post(f"{base}/api/chat", headers=session.bearer, json={"message": behaviour})


async def test_a_stray_response_is_never_merged_into_the_real_one(client: Http, faulty: str) -> None:
    """A 200 and, in the same write, a 302 with a cookie nobody asked for: the client gets
    the 200 alone, and the connection that carried the stray bytes is not used again."""
    answer = await _chat(client, faulty, "stray")
    assert answer.status_code == 200
    assert answer.json() == {}
    assert "set-cookie" not in answer.headers and "location" not in answer.headers
    for _ in range(3):
        after = await _chat(client, faulty, "fine")
        assert (after.status_code, after.json()) == (200, {"ok": True})


async def test_oversized_response_headers_are_a_502(client: Http, faulty: str) -> None:
    answer = await _chat(client, faulty, "bigheaders")
    assert answer.status_code == 502
    assert answer.json() == {"detail": "upstream chat sent response headers over 65536 bytes"}


async def test_headers_named_in_the_upstreams_connection_header_are_dropped(
    client: Http, faulty: str
) -> None:
    answer = await _chat(client, faulty, "hopheader")
    assert answer.status_code == 200
    assert "x-internal-hop" not in answer.headers


async def test_a_transfer_coding_other_than_chunked_is_a_clean_502(client: Http, faulty: str) -> None:
    answer = await _chat(client, faulty, "gzip")
    assert answer.status_code == 502
    assert "Transfer-Encoding 'gzip'" in answer.json()["detail"]


# ---- the pool directly, against a scripted socket server ---------------------------------------


async def test_stray_bytes_before_release_do_not_change_the_response(pool_on: PoolOn) -> None:
    """The 302 arrives after the 200 completed but before the proxy released it."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(STRAY)
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    pool = await pool_on(script)
    response = await pool.request(b"GET", b"/x", [], timeout=5)
    await asyncio.sleep(0.3)  # the stray answer arrives meanwhile
    assert response.status == 200
    assert [name for name, _ in response.headers] == [b"content-length"]
    assert response.whole_body() == b"{}"
    assert response._conn.closed  # not given back to the pool
    response.release()
    assert not pool.idle


async def test_a_head_answer_ends_with_its_headers(pool_on: PoolOn) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    pool = await pool_on(script)
    response = await pool.request(b"HEAD", b"/x", [], timeout=5)
    assert response.status == 200
    assert response.whole_body() == b""  # complete already: nothing to wait for
    assert await response.next_chunk(0.5) == b""
    response.release()
    assert not pool.idle  # the parser would still expect the 500 bytes: never reused
