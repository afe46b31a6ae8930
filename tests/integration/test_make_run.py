"""`make run`'s program, started as a user would: everything comes up, the printed URL
answers, a task completes, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx

from agent_common.devstack.processes import port_open
from tests.support.stackdir import stack_dir


class Output:
    """Collects a process's output on a thread so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout}s; output:\n{self.text}")


def test_make_run_starts_everything_and_stops_cleanly() -> None:
    tmp_path = stack_dir()
    env = {**os.environ, "AGENT_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "agent_common.devstack"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = Output(proc)
        match = out.wait_for(r"is ready in ([\d.]+)s: (http://\S+)", timeout=90)
        output = out.text
        url = match.group(2)
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        orchestrator = re.search(r"orchestrator\s+(http://\S+)", output)
        assert orchestrator, output
        base = orchestrator.group(1)
        r = httpx.post(base + "/task", json={"title": "t", "description": "One sentence. Two sentences."},
                       headers={"X-User-Id": "make-run"}, timeout=10)
        assert r.status_code == 202, r.text
        tid = r.json()["task_id"]
        for _ in range(100):
            status = httpx.get(f"{base}/task/{tid}", headers={"X-User-Id": "make-run"}).json()["status"]
            if status == "completed":
                break
            time.sleep(0.1)
        assert status == "completed"
        pg_port = int(re.search(r"PostgreSQL on :(\d+)", output).group(1))  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        out.thread.join(5)
    assert proc.returncode == 0, out.text
    assert "stopped." in out.text
    assert not port_open(pg_port), "PostgreSQL still listening after Ctrl-C"
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists(), "data is kept between runs"
    shutil.rmtree(tmp_path, ignore_errors=True)
