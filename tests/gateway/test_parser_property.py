"""Property tests of the upstream client's connection parser (agent_gateway.upstream.Connection):
byte streams fed in arbitrary pieces, on a real socket's transport, then the upstream's close.

Whatever the bytes and however they are split, the response the proxy would relay
- is never merged: a well-formed answer comes out exactly (status, headers, body), whatever
  follows it (a stray answer, garbage);
- never hangs: once the upstream has closed, the response is complete or failed;
- is never made up: what comes out of arbitrary bytes was in those bytes."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_gateway.upstream import Connection, Response, UpstreamPool

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ;=/.,", max_size=30).map(str.strip)


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]  # as sent, framing headers included
    body: bytes
    framing: str  # length, chunked or close
    data: bytes


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    status = draw(st.sampled_from([200, 201, 202, 204, 302, 304, 400, 404, 500, 503]))
    names = draw(st.lists(TOKEN, max_size=6, unique=True))
    headers = [(b"x-" + n.encode(), draw(VALUE).encode()) for n in names]
    no_body = status in (204, 304)
    body = b"" if no_body else draw(st.binary(max_size=300))
    framing = "length" if no_body else draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        headers.append((b"content-length", str(len(body)).encode()))
        payload = body
    elif framing == "chunked":
        headers.append((b"transfer-encoding", b"chunked"))
        sizes = draw(st.lists(st.integers(1, 64), max_size=8))
        payload, rest = b"", body
        for size in sizes:
            piece, rest = rest[:size], rest[size:]
            if piece:
                payload += b"%x\r\n%b\r\n" % (len(piece), piece)
        if rest:
            payload += b"%x\r\n%b\r\n" % (len(rest), rest)
        payload += b"0\r\n\r\n"
    else:
        payload = body
    interim = b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n" if draw(st.booleans()) else b""
    head = b"HTTP/1.1 %d Whatever\r\n" % status + b"".join(b"%b: %b\r\n" % h for h in headers) + b"\r\n"
    return Answer(status, headers, body, framing, interim + head + payload)


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return [p for p in pieces if p]


def feed(pieces: list[bytes]) -> Response:
    """Feed the pieces to a fresh connection on a real socket, then close the upstream's end."""

    async def run() -> Response:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        pool = UpstreamPool(
            "up",
            "http://127.0.0.1:9",
            max_connections=1,
            keepalive_s=30,
            connect_timeout_s=1,
            pool_timeout_s=1,
        )
        _, conn = await loop.create_connection(lambda: Connection(pool), sock=ours)
        response = Response(conn)
        conn.response = response
        for piece in pieces:
            if conn.closed:
                break
            conn.data_received(piece)
        theirs.close()  # the upstream closes: EOF, then connection_lost
        for _ in range(200):
            if conn.closed and (response.complete or response.error is not None):
                break
            await asyncio.sleep(0.005)
        conn.abort()
        await asyncio.sleep(0)
        return response

    return asyncio.run(run())


def _body(response: Response) -> bytes:
    return b"".join(response.chunks)


def _relayable(answer: Answer) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in answer.headers]


@EXAMPLES
@given(
    answer=answers(),
    after=st.one_of(st.just(b""), answers().map(lambda a: a.data), st.binary(max_size=200)),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_a_well_formed_answer_comes_out_exactly_whatever_follows(
    answer: Answer, after: bytes, cuts: list[int]
) -> None:
    response = feed(splits(answer.data + after, cuts))
    assert response.error is None, response.error
    assert response.complete  # never waiting once the upstream has closed
    assert response.status == answer.status
    assert response.headers == _relayable(answer)
    # a body that ends at the close is everything until the close; any other ends where it says
    expected = answer.body + after if answer.framing == "close" else answer.body
    assert _body(response) == expected


@EXAMPLES
@given(
    data=st.one_of(
        st.binary(max_size=400), st.binary(max_size=300).map(lambda b: b"HTTP/1.1 200 OK\r\n" + b)
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_arbitrary_bytes_never_hang_and_never_make_up_an_answer(data: bytes, cuts: list[int]) -> None:
    response = feed(splits(data, cuts))
    assert response.complete or response.error is not None
    if response.headers_done and response.error is None:
        assert b" %d " % response.status in data
        lowered = data.lower()
        for name, value in response.headers:
            assert name in lowered and value in data
        assert len(_body(response)) <= len(data)
