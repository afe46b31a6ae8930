"""The gateway's pieces in-process: routing table, header rules, token parsing, the local
bucket, the Lua script's arithmetic in a real Redis, and the upstream pool's accounting."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import redis.asyncio as aioredis

from agent_common.devstack import Stack, free_port
from agent_common.forwarding import client_address
from agent_gateway import routes
from agent_gateway.proxy import upstream_headers
from agent_gateway.ratelimit import SCRIPT, Leases, LocalBuckets, RateLimiter
from agent_gateway.redisfast import FastRedis
from agent_gateway.sessions import token_from_headers, well_formed
from agent_gateway.upstream import UpstreamDown, UpstreamPool
from tests.gateway.upstreams import EchoUpstream


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/chat", ("chat", "/chat", "")),
        ("GET", "/api/chat/history/u-1", ("chat", "/chat/history/u-1", "u-1")),
        ("POST", "/api/task", ("orchestrator", "/task", "")),
        ("GET", "/api/tasks", ("orchestrator", "/tasks", "")),
        ("GET", "/api/tasks/abc", ("orchestrator", "/task/abc", "abc")),
        ("POST", "/api/tasks/abc/cancel", ("orchestrator", "/task/abc/cancel", "abc")),
    ],
)
def test_routing_table(method: str, path: str, expected: tuple[str, str, str]) -> None:
    hit = routes.match(method, path)
    assert hit is not None
    route, target, param = hit
    assert (route.upstream, target, param) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/",
        "/api/tasks/a/b",
        "/api/task/x",
        "/api/chat/history/",
        "/api/tasks/a%2Fb",
        "/api/chats",
        "/api/session",
    ],
)
def test_paths_that_do_not_route(path: str) -> None:
    assert routes.match("GET", path) is None


def test_wrong_method_names_the_allowed_ones() -> None:
    with pytest.raises(routes.MethodNotAllowed) as caught:
        routes.match("PUT", "/api/tasks/abc")
    assert caught.value.allowed == ["GET"]


def _scope(headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None = ("10.0.0.5", 1234)) -> dict:
    return {"headers": headers, "client": client, "scheme": "http"}


def test_upstream_headers_rules() -> None:
    lines, length, has_body = upstream_headers(
        _scope(
            [
                (b"host", b"gw"),
                (b"content-length", b"5"),
                (b"connection", b"close, x-hop"),
                (b"x-hop", b"1"),
                (b"x-forwarded-for", b"1.1.1.1"),
                (b"x-forwarded-for", b"2.2.2.2"),
                (b"x-user-id", b"evil"),
                (b"x-forwarded-proto", b"javascript"),
                (b"accept", b"*/*"),
            ]
        ),
        "user-1",
        "rid",
    )
    text = b"".join(lines).decode()
    assert (length, has_body) == (5, True)
    assert "accept: */*\r\n" in text
    assert "x-hop" not in text and "host" not in text and "evil" not in text
    assert "x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.5\r\n" in text
    assert "x-forwarded-proto: http\r\n" in text  # an invalid claim falls back to the real scheme
    assert "x-user-id: user-1\r\n" in text and "x-request-id: rid\r\n" in text


def test_request_without_length_or_chunking_has_no_body() -> None:
    _, length, has_body = upstream_headers(_scope([(b"accept", b"*/*")], client=None), "u", "r")
    assert (length, has_body) == (None, False)
    _, _, chunked = upstream_headers(_scope([(b"transfer-encoding", b"chunked")]), "u", "r")
    assert chunked


def test_client_address_with_and_without_trusted_proxies() -> None:
    scope = _scope([(b"x-forwarded-for", b"6.6.6.6, 7.7.7.7"), (b"x-forwarded-for", b"8.8.8.8")])
    assert client_address(scope, 0) == "10.0.0.5"
    assert client_address(scope, 1) == "8.8.8.8"
    assert client_address(scope, 2) == "7.7.7.7"
    assert client_address(scope, 9) == "6.6.6.6"


def test_token_from_bearer_or_cookie() -> None:
    assert token_from_headers([(b"authorization", b"Bearer abc")]) == b"abc"
    assert token_from_headers([(b"authorization", b"bearer  abc ")]) == b"abc"
    assert token_from_headers([(b"cookie", b"a=1; session=xyz; b=2")]) == b"xyz"
    assert token_from_headers([(b"cookie", b"a=1"), (b"cookie", b"session=two")]) == b"two"
    assert token_from_headers([(b"authorization", b"Basic abc")]) is None
    assert token_from_headers([(b"cookie", b"mysession=1")]) is None
    assert well_formed(b"A" * 43) and not well_formed(b"A" * 42) and not well_formed(b"A" * 42 + b"=")


def test_local_bucket() -> None:
    buckets = LocalBuckets(max_keys=2)
    assert [buckets.take("a", 2, 1).allowed for _ in range(3)] == [True, True, False]
    assert buckets.take("a", 2, 1).retry_after_s == 1
    buckets.take("b", 2, 1)
    buckets.take("c", 2, 1)  # evicts the oldest
    assert len(buckets._buckets) == 2


async def test_lua_bucket_in_redis(infra: Stack) -> None:
    fast = FastRedis(infra.redis.url, SCRIPT, timeout_s=1)
    redis = aioredis.Redis.from_url(infra.redis.url)
    try:
        await redis.delete("rl:unit")
        results = [await fast.evalsha("rl:unit", 2, 0.5, 1) for _ in range(3)]
        assert [r[0] for r in results] == [1, 1, 0]
        assert 1500 <= results[2][1] <= 2000  # ms until one token at 0.5/s
        await redis.script_flush()  # as after a Redis restart: EVAL loads it again
        assert (await fast.evalsha("rl:other", 2, 0.5, 1))[0] == 1
    finally:
        fast.close()
        await redis.aclose()


async def test_fast_redis_reads_the_database_from_the_url_as_redis_py_does(infra: Stack) -> None:
    """`?db=3` (redis-py's query form) puts the buckets in database 3, where redis-py looks."""
    url = f"{infra.redis.url.rsplit('/', 1)[0]}/?db=3"
    fast = FastRedis(url, SCRIPT, timeout_s=1)
    redis = aioredis.Redis.from_url(url)
    try:
        await redis.delete("rl:db3")
        await fast.evalsha("rl:db3", 2, 0.5, 1)
        assert await redis.exists("rl:db3") == 1
        assert (await redis.connection_pool.get_connection()).db == 3
    finally:
        fast.close()
        await redis.aclose()


@pytest.mark.parametrize(
    ("url", "verify", "check_hostname"),
    [
        ("rediss://cache.example:6380/0", ssl.CERT_REQUIRED, True),
        ("rediss://cache.example:6380/0?ssl_cert_reqs=none", ssl.CERT_NONE, False),
        ("rediss://cache.example:6380/0?ssl_check_hostname=false", ssl.CERT_REQUIRED, False),
    ],
)
def test_fast_redis_honours_the_tls_options_of_the_url(url: str, verify: int, check_hostname: bool) -> None:
    fast = FastRedis(url, SCRIPT, timeout_s=1)
    assert (fast.host, fast.port) == ("cache.example", 6380)
    assert fast.ssl is not None
    assert (fast.ssl.verify_mode, fast.ssl.check_hostname) == (verify, check_hostname)


def test_fast_redis_leaves_unix_sockets_to_redis_py() -> None:
    with pytest.raises(ValueError, match="unix"):
        FastRedis("unix:///run/redis.sock", SCRIPT, timeout_s=1)


async def test_a_peer_that_is_not_redis_fails_the_call_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """Bytes that are not RESP end the connection with a ConnectionError for the caller (the
    limiter's fallback takes over), not an asyncio 'Fatal error' with a traceback."""

    async def not_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(not_redis, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fast = FastRedis(f"redis://127.0.0.1:{port}/0", SCRIPT, timeout_s=3)
    try:
        with pytest.raises(ConnectionError, match="not RESP"):
            await fast.evalsha("rl:x", 2, 0.5, 1)
    finally:
        fast.close()
        server.close()
    assert not [r for r in caplog.records if "Fatal error" in r.getMessage()]


class CountingRedis:
    """The rate-limit script in a real Redis, counting the calls that reach it."""

    def __init__(self, url: str) -> None:
        self.fast = FastRedis(url, SCRIPT, timeout_s=1)
        self.calls = 0

    async def evalsha(self, key: str, *args: float) -> list[int]:
        self.calls += 1
        return await self.fast.evalsha(key, *args)


@pytest.fixture
async def counting(infra: Stack) -> CountingRedis:
    runner = CountingRedis(infra.redis.url)
    redis = aioredis.Redis.from_url(infra.redis.url)
    await redis.delete("rl:lease", "rl:burst")
    await redis.aclose()
    yield runner  # type: ignore[misc]
    runner.fast.close()


async def test_requests_one_at_a_time_take_one_token_each(counting: CountingRedis) -> None:
    """Two replicas, requests one after another on one bucket of 40: exactly 40 allowed,
    and no token is held back in memory (a lone request asks for one)."""
    replicas = [
        RateLimiter(counting, on_redis_error="local", retry_s=5, lease=32, lease_s=30) for _ in range(2)
    ]
    verdicts = [await replicas[i % 2].take("rl:lease", 40, 0.001) for i in range(50)]
    assert sum(v.allowed for v in verdicts) == 40
    assert verdicts[39].allowed and not verdicts[40].allowed and verdicts[-1].retry_after_s >= 1
    assert counting.calls == 50
    assert all(not r.leases.spend("rl:lease", 0.0) for r in replicas)


async def test_concurrent_requests_share_one_refill(counting: CountingRedis) -> None:
    """120 requests at once on a bucket of 100, at most 10 tokens a call: one call in flight
    at a time, each for the requests waiting, 100 allowed, 20 refused with Retry-After."""
    limiter = RateLimiter(counting, on_redis_error="local", retry_s=5, lease=10, lease_s=30)
    verdicts = await asyncio.gather(*(limiter.take("rl:burst", 100, 0.001) for _ in range(120)))
    assert sum(v.allowed for v in verdicts) == 100
    assert all(v.retry_after_s >= 1 for v in verdicts if not v.allowed)
    assert counting.calls <= 11 + 2  # 10 leases of 10, then the empty bucket's answer is shared


def test_expired_leases_are_not_spent() -> None:
    leases = Leases()
    leases.keep("k", 2, until=10.0)
    assert leases.spend("k", now=9.0) and leases.spend("k", now=9.5) and not leases.spend("k", now=9.6)
    leases.keep("k", 5, until=10.0)
    assert not leases.spend("k", now=10.0)


async def test_limiter_uses_the_fallback_when_redis_is_unreachable() -> None:
    fast = FastRedis(f"redis://127.0.0.1:{free_port()}/0", SCRIPT, timeout_s=0.2)
    limiter = RateLimiter(fast, on_redis_error="local", retry_s=5)
    verdicts = [await limiter.take("k", 2, 0.1) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    closed = RateLimiter(fast, on_redis_error="closed", retry_s=5)
    assert (await closed.take("k", 2, 0.1)).unavailable
    opened = RateLimiter(fast, on_redis_error="open", retry_s=5)
    assert all([(await opened.take("k", 2, 0.1)).allowed for _ in range(5)])


@pytest.fixture(scope="module")
def upstream() -> EchoUpstream:
    server = EchoUpstream().start()
    yield server  # type: ignore[misc]
    server.stop()


def _pool(url: str, **kwargs: float) -> UpstreamPool:
    options = {"max_connections": 2, "keepalive_s": 30.0, "connect_timeout_s": 1.0, "pool_timeout_s": 2.0}
    return UpstreamPool("test", url, **{**options, **kwargs})  # type: ignore[arg-type]


async def _get(pool: UpstreamPool, path: bytes = b"/tasks") -> int:
    response = await pool.request(b"GET", path, [], timeout=5)
    try:
        while await response.next_chunk(5):
            pass
        return response.status
    finally:
        response.release()


async def _two_idle_connections(pool: UpstreamPool) -> None:
    first, second = await pool.acquire(), await pool.acquire()
    pool.release(first, True)
    pool.release(second, True)


async def test_pool_never_opens_more_than_its_limit(upstream: EchoUpstream) -> None:
    pool = _pool(upstream.url)
    before = set(upstream.client_ports)
    assert set(await asyncio.gather(*(_get(pool) for _ in range(40)))) == {200}
    assert len(upstream.client_ports - before) <= 2
    assert pool.slots == len(pool.idle) <= 2
    await pool.close()


async def test_pool_waiting_longer_than_its_timeout_is_503(upstream: EchoUpstream) -> None:
    pool = _pool(upstream.url, max_connections=1, pool_timeout_s=0.3)
    slow = asyncio.ensure_future(pool.request(b"GET", b"/task/slow", [], timeout=5))
    await asyncio.sleep(0.1)
    with pytest.raises(UpstreamDown, match="no free connection"):
        await pool.request(b"GET", b"/tasks", [], timeout=5)
    slow.cancel()  # a cancelled request gives its connection up (closed, not reused)
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert pool.slots == 0
    assert await _get(pool) == 200
    await pool.close()


async def test_expired_keepalive_connections_are_replaced(upstream: EchoUpstream) -> None:
    pool = _pool(upstream.url, keepalive_s=0.2)
    await _get(pool)
    first = pool.idle[-1]
    await asyncio.sleep(0.3)
    await _get(pool)
    assert pool.idle[-1] is not first and first.closed
    assert pool.slots == 1
    await pool.close()


async def test_a_connection_closed_while_idle_leaves_the_pool_at_once(upstream: EchoUpstream) -> None:
    pool = _pool(upstream.url)
    await _two_idle_connections(pool)
    assert (pool.slots, len(pool.idle)) == (2, 2)
    for conn in list(pool.idle):
        conn.transport.close()  # as if the upstream had closed them
    await asyncio.sleep(0.05)
    assert (pool.slots, len(pool.idle)) == (0, 0)
    assert await _get(pool) == 200
    assert pool.slots == 1
    await pool.close()


async def test_the_oldest_idle_connection_expires_while_newer_ones_are_reused(upstream: EchoUpstream) -> None:
    """Reuse is newest-first; the one below would otherwise hold its slot for ever."""
    pool = _pool(upstream.url, keepalive_s=0.5)
    await _two_idle_connections(pool)
    oldest = pool.idle[0]
    deadline = asyncio.get_running_loop().time() + 0.8
    while asyncio.get_running_loop().time() < deadline:
        await _get(pool)  # always the newest connection
        await asyncio.sleep(0.05)
    assert oldest.closed
    assert pool.slots == 1
    await pool.close()


async def test_refused_connection_frees_its_slot() -> None:
    pool = _pool(f"http://127.0.0.1:{free_port()}", max_connections=1)
    for _ in range(3):
        with pytest.raises(UpstreamDown, match="refused"):
            await pool.request(b"GET", b"/", [], timeout=1)
    assert pool.slots == 0
