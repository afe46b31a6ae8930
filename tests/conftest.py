"""Fixtures shared by every suite: a real PostgreSQL, a real Redis, a local page server,
and the services as real processes over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_common.devstack import LocalPostgres, LocalRedis, free_port
from tests.support.pageserver import PageServer

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


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
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    server.start()
    from agent_common import migrate

    import asyncio

    asyncio.run(migrate.apply(server.url))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    yield server
    server.stop()


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
