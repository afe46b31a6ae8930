"""agentctl as a real subprocess (the installed console script) against the real system,
each test with its own config directory so the user's real one is never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_common.devstack import ServiceProcess, Stack, free_port

AGENTCTL = Path(sys.executable).with_name("agentctl")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error(self) -> dict[str, Any]:
        """The --json error object on stderr."""
        return json.loads(self.err.strip().splitlines()[-1])


Run = Callable[..., Result]


def run_agentctl(
    *args: str,
    url: str | None,
    config_dir: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> Result:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    environ.update({"AGENTCTL_CONFIG_DIR": str(config_dir), "COLUMNS": "160", **(env or {})})
    if url:
        environ["AGENTCTL_URL"] = url
    proc = subprocess.run(
        [str(AGENTCTL), *args], env=environ, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    assert AGENTCTL.exists(), f"{AGENTCTL} is missing: `make install` installs services/cli"
    return stack.url("gateway")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "agentctl-config"


@pytest.fixture
def agentctl(gateway_url: str, config_dir: Path) -> Run:
    """agentctl(*args, env=..., stdin=...) against the shared stack's gateway."""

    def run(*args: str, **kwargs: Any) -> Result:
        kwargs.setdefault("url", gateway_url)
        return run_agentctl(*args, config_dir=config_dir, **kwargs)

    return run


def stored(config_dir: Path) -> dict[str, Any]:
    return json.loads((config_dir / "sessions.json").read_text())


@pytest.fixture(scope="session")
def own_gateways(infra: Stack, stack: Stack) -> Iterator[dict[str, str]]:
    """Gateways of the CLI tests' own: `strict` (no session cache, so an expiry written to
    the database counts at once; a bucket of 3 requests, refilled every 20 s) and `broken`
    (its orchestrator address has nothing behind it)."""
    configs = {
        "strict": {"SESSION_CACHE_TTL_S": "0", "RATE_LIMIT_CAPACITY": "3", "RATE_LIMIT_REFILL_PER_S": "0.05"},
        "broken": {"ORCHESTRATOR_URL": f"http://127.0.0.1:{free_port()}"},
    }
    procs: dict[str, ServiceProcess] = {}
    urls: dict[str, str] = {}
    try:
        for name, env in configs.items():
            port = free_port()
            procs[name] = ServiceProcess(
                f"gateway-cli-{name}",
                "agent_gateway",
                {**infra.env(), "PORT": str(port), **env},
                ready_url=f"http://127.0.0.1:{port}/health",
                log_dir=infra.log_dir,
            ).start()
            urls[name] = f"http://127.0.0.1:{port}"
        for proc in procs.values():
            proc.wait_ready()
        yield urls
    finally:
        for proc in procs.values():
            proc.stop(10)
