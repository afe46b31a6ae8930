"""Gateway processes (python -m agent_gateway, real HTTP on loopback) against the test's
own upstreams, each configured for one kind of test, plus a client and session helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from agent_common.devstack import ServiceProcess, Stack, free_port
from agent_gateway.upstream import UpstreamPool
from tests.gateway.upstreams import BrokenUpstream, EchoUpstream

# limits that never refuse, for gateways whose tests are about something else
UNLIMITED = {
    "RATE_LIMIT_CAPACITY": "100000",
    "SESSION_CREATE_CAPACITY": "100000",
    "TASK_CREATE_RATE_CAPACITY": "100000",
    "TASK_CREATE_ADDRESS_CAPACITY": "100000",
    "CHAT_RATE_CAPACITY": "100000",
    "CHAT_ADDRESS_CAPACITY": "100000",
}


@dataclass
class Gateway:
    name: str
    url: str
    proc: ServiceProcess


@dataclass
class Session:
    token: str
    user_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoUpstream]:
    upstream = EchoUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def broken() -> Iterator[BrokenUpstream]:
    upstream = BrokenUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def gateways(infra: Stack, echo: EchoUpstream, broken: BrokenUpstream) -> Iterator[dict[str, Gateway]]:
    """Started together (each takes about a second), then waited for."""
    dead_port = free_port()  # nothing listens here
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    on_echo = {"ORCHESTRATOR_URL": echo.url, "CHAT_SERVICE_URL": echo.url}
    small_bucket = {"RATE_LIMIT_CAPACITY": "3", "RATE_LIMIT_REFILL_PER_S": "0.5"}
    configs: dict[str, dict[str, str]] = {
        # short read timeout (the SSE test pauses longer), small body limit, short session cache
        "echo": {
            **on_echo,
            "UPSTREAM_TIMEOUT_S": "1",
            "MAX_BODY_BYTES": "4096",
            "SESSION_CACHE_TTL_S": "1",
            **UNLIMITED,
        },
        "faulty": {
            "ORCHESTRATOR_URL": f"http://127.0.0.1:{dead_port}",
            "CHAT_SERVICE_URL": broken.url,
            **UNLIMITED,
        },
        "limited": {
            **on_echo,
            **small_bucket,
            "SESSION_CREATE_CAPACITY": "2",
            "SESSION_CREATE_REFILL_PER_S": "0.01",
            "TRUSTED_PROXY_HOPS": "1",
        },
        "noredis": {**on_echo, **small_bucket, "REDIS_URL": dead_redis},
        "closed": {**on_echo, **small_bucket, "REDIS_URL": dead_redis, "RATE_LIMIT_ON_REDIS_ERROR": "closed"},
        "nodb": {**on_echo, "DATABASE_URL": f"postgresql://agent:agent@127.0.0.1:{free_port()}/agent"},
        # few upstream connections, a short wait for one, a body deadline the tests can wait out
        "slowbody": {
            **on_echo,
            "UPSTREAM_MAX_CONNECTIONS": "8",
            "UPSTREAM_POOL_TIMEOUT_S": "1",
            "BODY_READ_TIMEOUT_S": "3",
            # and prod's cookie setting (tests/gateway/test_sessions.py)
            "SESSION_COOKIE_SECURE": "always",
            **UNLIMITED,
        },
        # small buckets for the costly routes and failed lookups, a small long-lived session
        # cache, and the upstreams report with URLs; the client is the X-Forwarded-For entry
        "costly": {
            **on_echo,
            "TRUSTED_PROXY_HOPS": "1",
            "RATE_LIMIT_CAPACITY": "100000",
            "SESSION_CREATE_CAPACITY": "100000",
            "CHAT_RATE_CAPACITY": "2",
            "CHAT_RATE_REFILL_PER_S": "0.01",
            "CHAT_ADDRESS_CAPACITY": "3",
            "CHAT_ADDRESS_REFILL_PER_S": "0.01",
            "TASK_CREATE_RATE_CAPACITY": "2",
            "TASK_CREATE_RATE_REFILL_PER_S": "0.01",
            "TASK_CREATE_ADDRESS_CAPACITY": "3",
            "TASK_CREATE_ADDRESS_REFILL_PER_S": "0.01",
            "SESSION_LOOKUP_FAILURES_CAPACITY": "3",
            "SESSION_LOOKUP_FAILURES_REFILL_PER_S": "0.01",
            "SESSION_CACHE_MAX": "4",
            "SESSION_CACHE_TTL_S": "60",
            "UPSTREAMS_REPORT_URLS": "true",
            "UPSTREAMS_REPORT_TTL_S": "30",
        },
    }
    started: dict[str, Gateway] = {}
    try:
        for name, env in configs.items():
            port = free_port()
            # a gateway without Redis or PostgreSQL is alive but not ready: wait for /health there
            probe = "/health" if "REDIS_URL" in env or "DATABASE_URL" in env else "/ready"
            proc = ServiceProcess(
                f"gateway-{name}",
                "agent_gateway",
                {**infra.env(), "PORT": str(port), **env},
                ready_url=f"http://127.0.0.1:{port}{probe}",
                log_dir=infra.log_dir,
            )
            started[name] = Gateway(name, f"http://127.0.0.1:{port}", proc.start())
        for gateway in started.values():
            gateway.proc.wait_ready()
        yield started
    finally:
        for gateway in started.values():
            gateway.proc.stop(10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as http:
        yield http


@pytest.fixture
async def db(infra: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.pg.url)
    yield conn
    await conn.close()


@pytest.fixture
def gw(gateways: dict[str, Gateway], echo: EchoUpstream) -> str:
    """The gateway in front of the echo upstream."""
    echo.reset()
    return gateways["echo"].url


async def new_session(client: httpx.AsyncClient, base: str, **kwargs: object) -> Session:
    answer = await client.post(f"{base}/api/session", **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Session(body["session_token"], body["user_id"])


def upstream_headers(echoed: dict) -> dict[str, list[str]]:  # type: ignore[type-arg]
    """The echo's header list as name -> values."""
    out: dict[str, list[str]] = {}
    for name, value in echoed["headers"]:
        out.setdefault(name, []).append(value)
    return out


# a local server's connection handler, written as a script of reads and writes
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PoolOn = Callable[[Handler], Awaitable[UpstreamPool]]


@pytest.fixture
async def pool_on() -> AsyncIterator[PoolOn]:
    """The gateway's upstream pool (4 connections) in front of a local server that answers
    each connection with the given handler; the servers close after the test."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> UpstreamPool:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return UpstreamPool(
            "up",
            f"http://127.0.0.1:{port}",
            max_connections=4,
            keepalive_s=30,
            connect_timeout_s=2,
            pool_timeout_s=2,
        )

    yield start
    for server in servers:
        server.close()
