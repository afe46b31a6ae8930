"""A traced system of its own: every service as a real process exporting spans over
OTLP/HTTP to a collector stand-in in this test process, with secrets seeded into its
environment (an OpenAI-style key the LLM stand-in checks, passwords in DATABASE_URL and
REDIS_URL) so the log tests can look for them.

It shares the session's PostgreSQL and Redis but not their data: a database and a role of
its own, and Redis database 5 through an ACL user of its own, so the shared stack's
workers never see its messages and its workers never see theirs."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from agent_common import migrate
from agent_common.devstack import ServiceProcess, Stack, free_port
from tests.conftest import TEST_ENV
from tests.support.llm_standins import OpenAIStandIn
from tests.support.otlp import Collector
from tests.support.pageserver import PageServer

MODEL = "obs-model"
PRICE = {"input": 2.0, "output": 8.0}  # USD per million tokens
REDIS_DB = 5
SERVICES = (
    ("orchestrator", "agent_orchestrator"),
    ("chat", "agent_chat"),
    ("gateway", "agent_gateway"),
    ("frontend", "agent_frontend"),
)


class EchoingOpenAI(OpenAIStandIn):
    """With mode "400" it refuses the request quoting the credentials it got, as a careless
    OpenAI-compatible server or proxy might: a secret inside an error text that the chat
    service passes on and logs."""

    def handle(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> None:
        if self.mode != "400":
            super().handle(h, path, body)
            return
        credentials = h.headers.get("Authorization", "")
        message = (
            f"model {body.get('model')!r} is not available to key {self.api_key}"
            f" (request sent with Authorization: {credentials})"
        )
        self.send_json(
            h,
            400,
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
        )


@dataclass
class Secrets:
    openai_key: str = field(default_factory=lambda: "sk-obs-" + secrets.token_hex(16))
    anthropic_key: str = field(default_factory=lambda: "sk-ant-obs-" + secrets.token_hex(16))
    db_password: str = field(default_factory=lambda: "dbpw-" + secrets.token_hex(12))
    redis_password: str = field(default_factory=lambda: "rdpw-" + secrets.token_hex(12))
    session_tokens: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [
            self.openai_key,
            self.anthropic_key,
            self.db_password,
            self.redis_password,
            *self.session_tokens,
        ]


@dataclass
class Traced:
    """The traced system: URLs, its data stores, its processes and what they export to."""

    collector: Collector
    llm: EchoingOpenAI
    secrets: Secrets
    urls: dict[str, str]
    db_url: str
    redis_url: str
    processes: list[ServiceProcess]

    def metrics_url(self, service: str) -> str:
        return self.urls[service] + "/metrics"

    def log_files(self) -> list[Path]:
        return [p.log_path for p in self.processes]

    def session(self) -> tuple[str, dict[str, str]]:
        """A new session through the gateway: (user id, Authorization header)."""
        answer = httpx.post(self.urls["gateway"] + "/api/session", timeout=10).json()
        self.secrets.session_tokens.append(answer["session_token"])
        return answer["user_id"], {"authorization": f"Bearer {answer['session_token']}"}


async def _own_database(admin_url: str, password: str) -> str:
    name = f"obs_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        await conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    finally:
        await conn.close()
    host = admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://{name}:{password}@{host}/{name}"
    await migrate.apply(url)
    return url


async def _own_redis_user(admin_url: str, password: str) -> str:
    user = f"obs{uuid.uuid4().hex[:6]}"
    client = aioredis.Redis.from_url(admin_url)
    try:
        await client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    finally:
        await client.aclose()
    hostport = admin_url.split("//", 1)[1].split("/", 1)[0]
    return f"redis://{user}:{password}@{hostport}/{REDIS_DB}"


@pytest.fixture(scope="session")
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def traced(
    infra: Stack, pages: PageServer, collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Traced]:
    seeded = Secrets()
    llm = EchoingOpenAI(api_key=seeded.openai_key).start()
    db_url = await _own_database(infra.pg.url, seeded.db_password)
    redis_url = await _own_redis_user(infra.redis.url, seeded.redis_password)
    ports = {name: free_port() for name, _ in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    urls["worker"] = f"http://127.0.0.1:{free_port()}"
    env = {
        **TEST_ENV,
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "ORCHESTRATOR_URL": urls["orchestrator"],
        "CHAT_SERVICE_URL": urls["chat"],
        "API_GATEWAY_URL": urls["gateway"],
        "FETCH_ALLOWED_HOSTS": pages.hostport,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OPENAI_API_KEY": seeded.openai_key,
        "ANTHROPIC_API_KEY": seeded.anthropic_key,
        "LLM_PROVIDER": "offline",
        "LLM_MODEL": MODEL,
        "LLM_MAX_RETRIES": "0",
        "LLM_TIMEOUT_S": "5",
        "LLM_PRICES": json.dumps({MODEL: PRICE}),
        "RATE_LIMIT_CAPACITY": "30",
        "RATE_LIMIT_REFILL_PER_S": "5",
        "QUEUE_METRICS_INTERVAL_S": "0.2",
        "SESSIONS_GAUGE_INTERVAL_S": "0.2",
    }
    logs = tmp_path_factory.mktemp("traced-logs")
    # the chat answers with the LLM stand-in; the others (the worker's summaries too) stay
    # offline, with the keys in their environment all the same
    own = {"chat": {"LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{llm.origin}/v1"}}
    procs = [
        ServiceProcess(
            name,
            module,
            {**env, "PORT": str(ports[name]), **own.get(name, {})},
            ready_url=f"{urls[name]}/ready",
            log_dir=logs,
        )
        for name, module in SERVICES
    ]
    worker_env = {**env, "METRICS_PORT": urls["worker"].rsplit(":", 1)[1]}
    procs.append(
        ServiceProcess(
            "worker", "agent_worker", worker_env, ready_url=f"{urls['worker']}/ready", log_dir=logs
        )
    )
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.wait_ready()
        yield Traced(collector, llm, seeded, urls, db_url, redis_url, procs)
    finally:
        for proc in procs:
            proc.stop()
        llm.stop()


@pytest.fixture(scope="session")
async def traced_db(traced: Traced) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(traced.db_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def traced_redis(traced: Traced) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(traced.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def wait_until(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
