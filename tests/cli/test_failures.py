"""What goes wrong, and what agentctl says and exits with: an expired or revoked session
(renewed), a rate limit, a gateway that is down, a service behind it that is down, a
config directory that cannot be written."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import asyncpg
import httpx

from agent_common.devstack import ServiceProcess, Stack, free_port
from tests.cli.conftest import Run, run_agentctl, stored


async def test_a_session_expired_in_the_database_is_renewed(
    db: asyncpg.Pool, own_gateways: dict[str, str], config_dir: Path
) -> None:
    url = own_gateways["strict"]  # no session cache: the database's word counts at once
    assert run_agentctl("task", "One sentence to summarize here.", url=url, config_dir=config_dir).code == 0
    old = stored(config_dir)[url]
    token_hash = hashlib.sha256(old["token"].encode()).digest()
    await db.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", token_hash
    )
    result = run_agentctl("tasks", "--json", url=url, config_dir=config_dir)
    assert result.code == 0, result.err
    assert "session" in result.err and "started a new one" in result.err
    new = stored(config_dir)[url]
    assert new["token"] != old["token"] and new["user_id"] != old["user_id"]
    assert result.json() == []  # a new anonymous user: the old session's task is not its own
    assert await db.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", new["user_id"]) == 1


def test_a_locally_expired_session_is_replaced_before_use(
    agentctl: Run, config_dir: Path, gateway_url: str
) -> None:
    assert agentctl("tasks").code == 0
    sessions = stored(config_dir)
    old_token = sessions[gateway_url]["token"]
    sessions[gateway_url]["expires_at"] = "2001-01-01T00:00:00Z"
    (config_dir / "sessions.json").write_text(json.dumps(sessions))
    result = agentctl("tasks")
    assert result.code == 0 and "started a new one" in result.err
    assert stored(config_dir)[gateway_url]["token"] != old_token


def test_a_revoked_session_is_renewed(own_gateways: dict[str, str], config_dir: Path) -> None:
    url = own_gateways["strict"]
    assert run_agentctl("tasks", url=url, config_dir=config_dir).code == 0
    token = stored(config_dir)[url]["token"]
    revoked = httpx.post(f"{url}/api/session/revoke", headers={"authorization": f"Bearer {token}"})
    assert revoked.status_code == 200
    result = run_agentctl("tasks", url=url, config_dir=config_dir)
    assert result.code == 0 and "started a new one" in result.err
    assert stored(config_dir)[url]["token"] != token


def test_rate_limited_exits_5_with_the_wait(own_gateways: dict[str, str], config_dir: Path) -> None:
    url = own_gateways["strict"]  # 3 requests per session, one more every 20 s
    codes = [run_agentctl("tasks", url=url, config_dir=config_dir).code for _ in range(3)]
    assert codes == [0, 0, 0]
    limited = run_agentctl("tasks", url=url, config_dir=config_dir)
    assert limited.code == 5
    assert "rate limited" in limited.err and "wait" in limited.err and "try again in" in limited.err
    error = run_agentctl("--json", "tasks", url=url, config_dir=config_dir).error()
    assert error["error"] == "rate_limited" and error["exit_code"] == 5 and error["status"] == 429
    assert error["retry_after_s"] >= 1


def test_a_gateway_that_is_down_is_a_clear_message_and_exit_3(stack: Stack, tmp_path: Path) -> None:
    # `stack`, not `infra`: `agentctl health` is 0 only when the services behind the gateway answer
    port = free_port()
    gateway = ServiceProcess(
        "gateway-cli-down",
        "agent_gateway",
        {**stack.env(), "PORT": str(port)},
        ready_url=f"http://127.0.0.1:{port}/health",
        log_dir=stack.log_dir,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        gateway.wait_ready()
        assert run_agentctl("health", url=url, config_dir=tmp_path).code == 0
    finally:
        gateway.stop(10)
    started = time.monotonic()
    result = run_agentctl("tasks", url=url, config_dir=tmp_path)
    assert result.code == 3
    assert time.monotonic() - started < 10  # refused at once, no long hang
    assert f"cannot reach the gateway at {url}" in result.err
    assert "is the gateway running" in result.err and "--url" in result.err
    assert "Traceback" not in result.err
    error = run_agentctl("--json", "chat", "hello", url=url, config_dir=tmp_path).error()
    assert error["error"] == "unreachable" and error["exit_code"] == 3 and error["hint"]


def test_nothing_listening_at_the_default_address_says_how_to_start_it(tmp_path: Path) -> None:
    result = run_agentctl("tasks", url=f"http://127.0.0.1:{free_port()}", config_dir=tmp_path)
    assert result.code == 3 and "make run" in result.err


def test_a_service_down_behind_the_gateway_exits_6(own_gateways: dict[str, str], config_dir: Path) -> None:
    url = own_gateways["broken"]  # nothing at its orchestrator address
    result = run_agentctl("tasks", url=url, config_dir=config_dir)
    assert result.code == 6
    assert "503" in result.err and "orchestrator" in result.err and "agentctl health" in result.err
    health = run_agentctl("health", url=url, config_dir=config_dir)
    assert health.code == 6
    assert "NOT READY" in health.out and "not every service is ready" in health.err
    report = run_agentctl("health", "--json", url=url, config_dir=config_dir).json()
    assert report["ok"] is False
    assert report["upstreams"]["orchestrator"]["ready"] is False
    assert report["upstreams"]["chat"]["ready"] is True


def test_a_config_directory_that_cannot_be_written_exits_4(gateway_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where the directory should be (root ignores mode bits)
    result = run_agentctl("tasks", url=gateway_url, config_dir=blocker / "agentctl")
    assert result.code == 4
    assert "cannot save the session" in result.err and "AGENTCTL_CONFIG_DIR" in result.err
