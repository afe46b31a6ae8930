"""A stack of its own for the fault tests: they stop PostgreSQL and Redis and kill services,
which must never touch the session's shared `stack` that the other suites use.

Every test starts from a healed stack (everything running and ready) and may leave it
broken: the `rstack` fixture repairs what the previous test left."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from agent_common.devstack import Ports, Stack
from tests.conftest import ARTIFACTS, TEST_ENV
from tests.reliability.support import Api, heal
from tests.support.pageserver import PageServer
from tests.support.stackdir import stack_dir

# limits high enough that 429s never hide what a fault does, and short timings so that a
# fault and its recovery fit in seconds
RELIABILITY_ENV = {
    **TEST_ENV,
    "RATE_LIMIT_CAPACITY": "1000000",
    "RATE_LIMIT_REFILL_PER_S": "1000000",
    "SESSION_CREATE_CAPACITY": "100000",
    "SESSION_CREATE_REFILL_PER_S": "100000",
    "CHAT_RATE_CAPACITY": "1000000",
    "CHAT_RATE_REFILL_PER_S": "1000000",
    "TASK_CREATE_RATE_CAPACITY": "1000000",
    "TASK_CREATE_RATE_REFILL_PER_S": "1000000",
    "DB_CONNECT_TIMEOUT_S": "2",
    "REDIS_SOCKET_TIMEOUT_S": "2",
    "WORKER_CONCURRENCY": "8",
}
LOGS = ARTIFACTS / "reliability-logs"


@pytest.fixture(scope="session")
def fault_stack(pages: PageServer) -> Iterator[Stack]:
    base = stack_dir()
    stack = Stack(
        base,
        ports=Ports.free(),
        durable=False,
        env={**RELIABILITY_ENV, "FETCH_ALLOWED_HOSTS": pages.hostport},
        only={"orchestrator", "chat", "gateway", "worker"},
    )
    try:
        stack.start_infra()
        stack.start_services()
        yield stack
    finally:
        stack.stop()
        # the services' logs outlive the stack: a failure here is read from them
        shutil.rmtree(LOGS, ignore_errors=True)
        shutil.copytree(stack.log_dir, LOGS, dirs_exist_ok=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def rstack(fault_stack: Stack) -> Stack:
    """The fault stack, everything running and ready (whatever the last test did)."""
    heal(fault_stack)
    return fault_stack


@pytest.fixture
async def rdb(rstack: Stack) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(rstack.pg.url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def api(rstack: Stack) -> AsyncIterator[Api]:
    async with Api(rstack.url("gateway")) as client:
        yield client
