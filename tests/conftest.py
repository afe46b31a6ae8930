"""Fixtures shared by every suite: a real PostgreSQL, a real Redis, a local page server,
and the services as real processes over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from agent_common.devstack import Ports, Stack
from agent_common.devstack.stack import services_from_env
from tests.support.llm_standins import API_KEY, AnthropicStandIn, OpenAIStandIn
from tests.support.pageserver import PageServer
from tests.support.stackdir import stack_dir

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


# What makes a test slow (marker `slow`, left out by `make test-fast`): a fixture that starts a
# whole system of processes, or runs a scanner over every render. By fixture, so that a new test
# is marked by what it uses; a module that starts processes of its own says `pytestmark`.
SLOW_FIXTURES = {
    "stack": "every service, two workers, PostgreSQL and Redis",
    "fault_stack": "the reliability suite's own stack",
    "traced": "the observability suite's own system",
    "checkov_results": "checkov over every render (its first run installs it)",
    # takes its chat process (on the stack) by name at run time, which the closure cannot see
    "llm_chat": "a chat service of its own per provider, beside the stack",
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failure: a missing dependency must not pass silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI", "").lower() == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI (CI=true forbids skips): {reason}"


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    """A local page server whose host:port is in FETCH_ALLOWED_HOSTS for the services."""
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def canary() -> Iterator[PageServer]:
    """A loopback server that is NOT allowed: the SSRF guard must never reach it."""
    server = PageServer().start()
    yield server
    server.stop()


# Short timings so that crash and recovery paths finish in seconds, not minutes.
TEST_ENV = {
    "LOG_LEVEL": "INFO",
    "VISIBILITY_TIMEOUT_S": "3",
    "RECLAIM_INTERVAL_S": "0.5",
    "RECONCILE_INTERVAL_S": "1",
    "RECONCILE_MIN_AGE_S": "2",
    "SHUTDOWN_GRACE_S": "10",
    "FETCH_TOTAL_TIMEOUT_S": "10",
    # every test client is 127.0.0.1: the per-address limits would add up the whole suite
    # (tests/gateway checks them on gateways of its own)
    "CHAT_ADDRESS_CAPACITY": "1000000",
    "TASK_CREATE_ADDRESS_CAPACITY": "1000000",
    "SESSION_LOOKUP_FAILURES_CAPACITY": "1000000",
}


# How a service under test is pointed at a model: one of the wire stand-ins below
# (tests/support/llm_standins.py), shared by the chat, orchestrator and worker suites
MODEL = "standin-model"
PRICE = {"input": 2.5, "output": 10.0}  # USD per million tokens
LLM_ENV = {
    "LLM_MODEL": MODEL,
    "OPENAI_API_KEY": API_KEY,
    "ANTHROPIC_API_KEY": API_KEY,
    "LLM_TIMEOUT_S": "1.5",
    "LLM_MAX_RETRIES": "0",  # the failure tests want the first answer, not the SDK's retries
    "LLM_PRICES": json.dumps({MODEL: PRICE}),
}


@pytest.fixture(scope="session")
def openai_standin() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def anthropic_standin() -> Iterator[AnthropicStandIn]:
    server = AnthropicStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def infra(pages: PageServer) -> Iterator[Stack]:
    """PostgreSQL and Redis (migrated), no services yet."""
    base = stack_dir()
    stack = Stack(
        base,
        ports=Ports.free(),
        durable=False,
        env={**TEST_ENV, "FETCH_ALLOWED_HOSTS": pages.hostport},
        only=services_from_env(os.environ.get("AGENT_SERVICES")),
    )
    stack.start_infra()
    yield stack
    stack.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(infra: Stack) -> Stack:
    """Every installed service running against `infra`, two workers included."""
    infra.start_services()
    return infra


@pytest.fixture(scope="session")
async def orch(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The orchestrator over HTTP (callers pass X-User-Id, as the gateway would)."""
    async with httpx.AsyncClient(base_url=stack.url("orchestrator"), timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """The stack's PostgreSQL, to check what was (or was not) written."""
    pool = await asyncpg.create_pool(stack.pg.url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def rds(stack: Stack) -> AsyncIterator[aioredis.Redis]:
    """The stack's Redis: the stream, the status mirror."""
    client = aioredis.Redis.from_url(stack.redis.url, decode_responses=True)
    yield client
    await client.aclose()
