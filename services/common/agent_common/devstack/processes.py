"""Service processes for `make run` and the tests: start, wait until ready, stop gracefully."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_http_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        if http_status(url) == 200:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


class ServiceProcess:
    """`python -m <module>` with an environment, its output in a log file."""

    def __init__(
        self, name: str, module: str, env: Mapping[str, str], *, ready_url: str | None, log_dir: Path
    ) -> None:
        self.name = name
        self.module = module
        self.env = {**os.environ, **env}
        self.ready_url = ready_url
        self.log_path = Path(log_dir) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it open
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        if self.ready_url:
            try:
                wait_http_ready(self.ready_url, timeout, self.proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{self.name}: {exc}\n--- {self.log_path} ---\n{self.tail()}") from exc

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a graceful exit, SIGKILL if it does not come."""
        if not self.proc:
            return None
        return terminate(self.proc, timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """SIGTERM, wait for a graceful exit, SIGKILL if it does not come; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
