"""Secrets stay secret: provider keys, the database password and session tokens appear in
no log line, no answer and no request id, even when the provider fails and at DEBUG level."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from agent_common.devstack import ServiceProcess, Stack, free_port

API_KEY = "sk-SENTINEL-api-key-0123456789abcdef"
DB_PASSWORD = "SENTINEL-db-password-42"  # noqa: S105 - a sentinel to look for


@pytest.fixture(scope="module")
def leaky(stack: Stack) -> Iterator[dict[str, ServiceProcess]]:
    """A chat service with a provider key (its provider unreachable, so it fails and says so)
    and a gateway in front of it, both at DEBUG, with a password in DATABASE_URL (the test
    database trusts loopback, so any password connects)."""
    env = {
        **stack.env(),
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": stack.pg.url.replace("agent@", f"agent:{DB_PASSWORD}@"),
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": API_KEY,
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "LLM_MAX_RETRIES": "0",
        "RATE_LIMIT_CAPACITY": "100000",
        "SESSION_CREATE_CAPACITY": "100000",
        "CHAT_RATE_CAPACITY": "100000",
        "TASK_CREATE_RATE_CAPACITY": "100000",
    }
    chat_port, gw_port = free_port(), free_port()
    procs = {
        "chat": ServiceProcess(
            "chat-secrets",
            "agent_chat",
            {**env, "PORT": str(chat_port)},
            ready_url=f"http://127.0.0.1:{chat_port}/ready",
            log_dir=stack.log_dir,
        ),
        "gateway": ServiceProcess(
            "gateway-secrets",
            "agent_gateway",
            {**env, "PORT": str(gw_port), "CHAT_SERVICE_URL": f"http://127.0.0.1:{chat_port}"},
            ready_url=f"http://127.0.0.1:{gw_port}/ready",
            log_dir=stack.log_dir,
        ),
    }
    for proc in procs.values():
        proc.start()
    for proc in procs.values():
        proc.wait_ready()
    yield procs
    for proc in procs.values():
        proc.stop(10)


def logs(procs: dict[str, ServiceProcess]) -> str:
    return "\n".join(Path(p.log_path).read_text(errors="replace") for p in procs.values())


async def test_no_secret_in_logs_answers_or_request_ids(leaky: dict[str, ServiceProcess]) -> None:
    base = leaky["gateway"].ready_url.removesuffix("/ready")  # type: ignore[union-attr]
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        created = await client.post("/api/session")
        token = created.json()["session_token"]
        auth = {"Authorization": f"Bearer {token}"}
        answers = [
            created,
            await client.post("/api/chat", headers=auth, json={"message": "hello"}),  # the provider is down
            await client.post(
                "/api/chat", headers={**auth, "Accept": "text/event-stream"}, json={"message": "hi"}
            ),
            await client.get("/api/tasks", headers={"Cookie": f"session={token}"}),
            await client.get(
                "/api/tasks", headers={"Authorization": f"Bearer {token[:-1]}x"}
            ),  # a wrong token
            await client.get("/api/tasks", headers={**auth, "X-Request-ID": token}),  # a token as request id
            await client.get("/ready"),
        ]
        seen = [a.text + str(a.headers) for a in answers[1:]]
    assert answers[1].status_code in (502, 503), answers[1].text
    time.sleep(0.5)  # the last log lines are written
    text = logs(leaky)
    secrets = {
        "api key": API_KEY,
        "db password": DB_PASSWORD,
        "token": token,
        "token hash": hashlib.sha256(token.encode()).hexdigest(),
    }
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} is in a log line"
        assert not [s for s in seen if secret in s and name != "token"], f"the {name} is in an answer"
    # a request id is ours or the client's own harmless one, never a credential echoed back
    assert all(token not in a.headers.get("x-request-id", "") for a in answers)
    assert "sk-SENTINEL" not in text and "SENTINEL-db" not in text


def test_the_shared_stack_logs_hold_no_session_token(stack: Stack) -> None:
    """Whatever the suites did so far, no log line holds a 43-character session token that
    the sessions table knows (only hashes are stored, so look for the hashes' tokens by
    hashing every token-shaped word in the logs)."""
    words = set()
    for log in Path(stack.log_dir).glob("*.log"):
        words.update(
            re.findall(
                r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", log.read_text(errors="replace")
            )
        )

    async def known() -> set[bytes]:
        conn = await asyncpg.connect(stack.pg.url)
        try:
            return {bytes(r["token_hash"]) for r in await conn.fetch("SELECT token_hash FROM sessions")}
        finally:
            await conn.close()

    hashes = asyncio.run(known())
    leaked = [w for w in words if hashlib.sha256(w.encode()).digest() in hashes]
    assert not leaked, f"{len(leaked)} session tokens in the logs"
