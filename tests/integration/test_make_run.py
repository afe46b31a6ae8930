"""`make run`'s program, started as a user would: everything comes up, the printed URL
answers, a task completes, and Ctrl-C stops every process it started. A process killed
under it is started again as Kubernetes would (a worker, PostgreSQL, Redis) while the rest
keeps serving; only a crash loop stops it all, with a message saying which and why."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_common.devstack.processes import http_status, port_open
from tests.reliability.support import report
from tests.support.pageserver import PageServer
from tests.support.stackdir import stack_dir

# each test starts `make run`'s whole system of its own
pytestmark = pytest.mark.slow

READY = r"is ready in ([\d.]+)s: (http://\S+)"


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


class MakeRun:
    """The running program: its output, its data folder, the addresses it printed."""

    def __init__(self, proc: subprocess.Popen[str], data: Path) -> None:
        self.proc = proc
        self.data = data
        self.out = Output(proc)

    def url(self, service: str) -> str:
        match = re.search(rf"^\s+{service}\s+(http://\S+)", self.out.text, re.MULTILINE)
        assert match, self.out.text
        return match.group(1)

    def pid(self, name: str) -> int:
        return int((self.data / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> int:
        """SIGKILL the process make run started as `name` (its pid file), as a user would."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid != old_pid:
                return pid
            time.sleep(0.1)
        raise AssertionError(f"{name} not restarted within {timeout}s; output:\n{self.out.text}")

    def stop(self) -> int:
        """Ctrl-C, and the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.out.thread.join(5)
        return self.proc.returncode


@contextmanager
def make_run(**env: str) -> Iterator[MakeRun]:
    base = stack_dir()
    data = base / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_common.devstack"],
        env={**os.environ, "AGENT_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    run = MakeRun(proc, data)
    try:
        run.out.wait_for(READY, timeout=120)
        yield run
    finally:
        run.stop()
        shutil.rmtree(base, ignore_errors=True)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while http_status(url + "/ready") != 200:
        assert time.monotonic() < deadline, f"{url} not ready within {timeout}s"
        time.sleep(0.1)


def submit(base: str, user: str, description: str) -> str:
    r = httpx.post(
        base + "/task",
        json={"title": "t", "description": description},
        headers={"X-User-Id": user},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def wait_completed(base: str, user: str, tid: str, timeout: float = 60) -> dict[str, Any]:
    """The task once terminal, which must be completed. A 503 is waited out: after a
    PostgreSQL restart each pooled connection that the old server held fails once."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{base}/task/{tid}", headers={"X-User-Id": user}, timeout=10)
        assert r.status_code in (200, 503), r.text
        task = r.json()
        if r.status_code == 200 and task["status"] in ("completed", "failed", "cancelled"):
            assert task["status"] == "completed", task
            return task
        assert time.monotonic() < deadline, f"task {tid} not done within {timeout}s: {task}"
        time.sleep(0.1)


def test_make_run_starts_everything_and_stops_cleanly() -> None:
    tmp_path = stack_dir()
    env = {**os.environ, "AGENT_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_common.devstack"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out = Output(proc)
        match = out.wait_for(READY, timeout=90)
        output = out.text
        url = match.group(2)
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        orchestrator = re.search(r"orchestrator\s+(http://\S+)", output)
        assert orchestrator, output
        base = orchestrator.group(1)
        wait_completed(base, "make-run", submit(base, "make-run", "One sentence. Two sentences."))
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
    assert not list((tmp_path / "data" / "run").glob("*.pid")), "pid files left after Ctrl-C"
    shutil.rmtree(tmp_path, ignore_errors=True)


class GatewayPoller(threading.Thread):
    """A user's page polling GET /api/tasks through the gateway: every answer is counted."""

    def __init__(self, gateway: str, token: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.url = gateway + "/api/tasks?limit=100"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.interval = interval
        self.halt = threading.Event()
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.tasks: list[dict[str, Any]] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.halt.is_set():
                try:
                    r = client.get(self.url, headers=self.headers)
                except httpx.HTTPError as exc:
                    self.statuses.append(0)
                    self.failures.append(repr(exc))
                else:
                    self.statuses.append(r.status_code)
                    if r.status_code == 200:
                        self.tasks = r.json()
                    else:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                self.halt.wait(self.interval)

    def completed(self) -> int:
        return sum(t["status"] == "completed" for t in self.tasks)


TASKS = 60
PAGE_DELAY_S = 4


def test_a_killed_worker_is_restarted_and_its_steps_finish(pages: PageServer) -> None:
    """60 slow URL tasks in flight on both workers, one worker SIGKILLed: make run starts it
    again, the two workers finish every task (the killed one's steps are claimed again after
    the visibility timeout), and the gateway answers every poll throughout."""
    timings = {"VISIBILITY_TIMEOUT_S": "5", "RECLAIM_INTERVAL_S": "0.5"}
    with make_run(FETCH_ALLOWED_HOSTS=pages.hostport, **timings) as run:
        gateway, orchestrator = run.url("gateway"), run.url("orchestrator")
        session = httpx.post(gateway + "/api/session", timeout=10).json()
        poller = GatewayPoller(gateway, session["session_token"])
        poller.start()
        tag = f"{time.time_ns()}"
        paths = [f"/slow/ietf-1.html?delay={PAGE_DELAY_S}&run={tag}&n={i}" for i in range(TASKS)]
        started = time.monotonic()
        ids = [submit(orchestrator, session["user_id"], f"Summarize {pages.url(p)}") for p in paths]
        _wait_for(lambda: sum(pages.targets[p] for p in paths) == TASKS, 60, "every page being fetched")
        killed = run.kill("worker-1")  # with its share of the 60 fetches in hand
        run.out.wait_for(r"worker-1 was killed by SIGKILL; restarting it in 1 s \(crash 1 of 5", 30)
        new_pid = run.wait_restarted("worker-1", killed)
        worker_1_metrics = re.search(r"metrics on :(\d+)", run.out.text).group(1)  # type: ignore[union-attr]
        wait_ready(f"http://127.0.0.1:{worker_1_metrics}")
        _wait_for(lambda: poller.completed() == TASKS, 120, f"{TASKS} completed tasks in GET /api/tasks")
        elapsed = time.monotonic() - started
        poller.halt.set()
        poller.join(10)
        refetched = sum(pages.targets[p] > 1 for p in paths)
        listed = {t["task_id"] for t in poller.tasks}
        report(
            "make run, worker SIGKILL",
            tasks=TASKS,
            completed=poller.completed(),
            gateway_polls=len(poller.statuses),
            gateway_failures=len(poller.failures),
            restarts=run.out.text.count("restarting it in"),
            steps_run_again=refetched,
            seconds=round(elapsed, 1),
        )
        assert set(ids) <= listed
        assert poller.failures == [], poller.failures[:5]
        assert len(poller.statuses) > 50, "the gateway was polled throughout"
        assert refetched > 0, "the killed worker had fetches in hand; they ran again elsewhere"
        assert new_pid != killed and run.proc.poll() is None
        assert run.out.text.count("restarting it in") == 1, run.out.text
    assert run.proc.returncode == 0, run.out.text


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.1)


def test_postgres_and_redis_killed_under_make_run_are_restarted_on_their_data() -> None:
    """Infrastructure is restarted too, as a StatefulSet's pod would be: PostgreSQL recovers
    from its WAL, Redis reloads its append-only file, the services reconnect by themselves."""
    with make_run(AGENT_SERVICES="orchestrator,worker") as run:
        base = run.url("orchestrator")
        before = submit(base, "infra", "Before the crash. It is kept.")
        wait_completed(base, "infra", before)

        started_as = run.pid("postgres")  # the server, or runuser running it as root
        postmaster = int((run.data / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        run.out.wait_for(
            r"postgres (was killed by SIGKILL|exited with code 137 \(SIGKILL\)); "
            r"restarting it in 1 s",
            30,
        )
        run.wait_restarted("postgres", started_as)
        wait_ready(base)
        wait_completed(base, "infra", submit(base, "infra", "After PostgreSQL came back. It runs."))
        assert wait_completed(base, "infra", before)["result"], "the task done before the crash is kept"

        redis = run.kill("redis")
        run.out.wait_for(r"redis was killed by SIGKILL; restarting it in 1 s", 30)
        run.wait_restarted("redis", redis)
        wait_ready(base)
        wait_completed(base, "infra", submit(base, "infra", "After Redis came back. It runs too."))
        assert run.proc.poll() is None
        report("make run, infra SIGKILL", restarts=run.out.text.count("restarting it in"))
    assert run.proc.returncode == 0, run.out.text


def test_a_crash_loop_stops_make_run_with_a_clear_message() -> None:
    """The third crash of the orchestrator within the window (RUN_CRASH_LIMIT=3) stops
    everything with exit code 1 and says which process, how often, and where its log is."""
    with make_run(
        AGENT_SERVICES="orchestrator", WORKERS="0", RUN_CRASH_LIMIT="3", RUN_RESTART_BACKOFF_S="0.2"
    ) as run:
        pg_port = int(re.search(r"PostgreSQL on :(\d+)", run.out.text).group(1))  # type: ignore[union-attr]
        pid = run.kill("orchestrator")
        run.out.wait_for(r"orchestrator was killed by SIGKILL; restarting it in 0.2 s \(crash 1 of 3", 30)
        pid = _kill_again(run, pid)
        run.out.wait_for(r"orchestrator was killed by SIGKILL; restarting it in 0.4 s \(crash 2 of 3", 30)
        _kill_again(run, pid)
        run.proc.wait(60)
        assert run.proc.returncode == 1, run.out.text
        message = run.out.wait_for(
            r"orchestrator was killed by SIGKILL: 3 crashes within 60 s, giving up "
            r"\(RUN_CRASH_LIMIT=3, RUN_CRASH_WINDOW_S=60\); its log: (\S+orchestrator\.log)",
            5,
        )
        assert Path(message.group(1)).name == "orchestrator.log"
        assert "stopped." in run.out.text
        assert not port_open(pg_port), "PostgreSQL still listening after giving up"


def _kill_again(run: MakeRun, old_pid: int) -> int:
    pid = run.wait_restarted("orchestrator", old_pid)
    os.kill(pid, signal.SIGKILL)
    return pid
