"""The security suite runs against the session's shared stack (it stops nothing), plus a
gateway of its own in front of the same services with a rate limit high enough that a
fuzzer's requests are answered rather than refused with 429."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_common.devstack import ServiceProcess, Stack, free_port

UNLIMITED = {
    "RATE_LIMIT_CAPACITY": "1000000",
    "RATE_LIMIT_REFILL_PER_S": "1000000",
    "SESSION_CREATE_CAPACITY": "100000",
    "SESSION_CREATE_REFILL_PER_S": "100000",
    "CHAT_RATE_CAPACITY": "1000000",
    "CHAT_RATE_REFILL_PER_S": "1000000",
    "TASK_CREATE_RATE_CAPACITY": "1000000",
    "TASK_CREATE_RATE_REFILL_PER_S": "1000000",
}


@pytest.fixture(scope="session")
def open_gateway(stack: Stack) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        "gateway-security",
        "agent_gateway",
        {**stack.env(), "PORT": str(port), **UNLIMITED},
        ready_url=f"http://127.0.0.1:{port}/ready",
        log_dir=stack.log_dir,
    )
    proc.start().wait_ready()
    yield f"http://127.0.0.1:{port}"
    proc.stop(10)
