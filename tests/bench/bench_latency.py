"""Latency and footprint of the system as `make run` starts it (not a test).

    .venv/bin/python -m tests.bench.bench_latency [--tasks 30] [--chats 200]

Starts `python -m agent_common.devstack` (what `make run` runs once installed) in a fresh
data folder and measures:
- ready_s: from the start of the process until it prints that every service is ready;
- chat: POST /api/chat through the gateway with the offline provider, one after another;
- article task: a 3-step URL task on a local fixture page, submitted through the gateway,
  from the submission to the completion (the task's own created_at and updated_at), one
  task at a time so each sees an idle system;
- idle RSS of every service process after the load, once the system has been quiet for a
  few seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.bench.figures import record
from tests.support.pageserver import PageServer
from tests.support.stackdir import stack_dir

PAGE = "ietf-1"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# bench-sized rate limits (the session's and the costly routes' own), so that the figures
# are latency, not 429s
UNLIMITED = {
    "RATE_LIMIT_CAPACITY": "1000000",
    "RATE_LIMIT_REFILL_PER_S": "100000",
    "CHAT_RATE_CAPACITY": "1000000",
    "CHAT_ADDRESS_CAPACITY": "1000000",
    "TASK_CREATE_RATE_CAPACITY": "1000000",
    "TASK_CREATE_ADDRESS_CAPACITY": "1000000",
}


class Devstack:
    """`make run`'s program in a subprocess; its output read on a thread."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent_common.devstack"],
            text=True,
            env={**os.environ, **env, "AGENT_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self.ready_at = 0.0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "is ready in" in line and not self.ready_at:
                self.ready_at = time.perf_counter()

    def wait_ready(self, timeout: float = 120) -> float:
        end = time.monotonic() + timeout
        while not self.ready_at:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("make run did not get ready:\n" + "".join(self.lines))
            time.sleep(0.02)
        return self.ready_at - self.started

    def url(self, name: str) -> str:
        match = re.search(rf"{name}\s+(http://\S+)", "".join(self.lines))
        assert match, "".join(self.lines)
        return match.group(1)

    def service_pids(self) -> dict[str, int]:
        """Service processes: the devstack's children that run python -m agent_*."""
        pids = {}
        for child in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            module = next((c.decode() for c in cmd if c.startswith(b"agent_")), None)
            if module:
                name = module.removeprefix("agent_")
                pids[name if name not in pids else f"{name}-{child}"] = int(child)
        return pids

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_chat(client: httpx.Client, headers: dict[str, str], n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        r = client.post("/api/chat", json={"message": f"hello {i}"}, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return times


def measure_tasks(
    client: httpx.Client, headers: dict[str, str], url: str, n: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """(server-side submit -> completed ms, client-side ms including the polling, ms spent
    in each step type and between steps)."""
    server, observed = [], []
    parts: dict[str, list[float]] = {}
    for _ in range(n):
        start = time.perf_counter()
        body = {"title": "bench", "description": f"Summarize {url}"}
        r = client.post("/api/task", json=body, headers=headers)
        r.raise_for_status()
        tid = r.json()["task_id"]
        while True:
            task = client.get(f"/api/tasks/{tid}", headers=headers).json()
            if task["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.002)
        observed.append((time.perf_counter() - start) * 1000)
        assert task["status"] == "completed", task
        created = datetime.fromisoformat(task["created_at"])
        updated = datetime.fromisoformat(task["updated_at"])
        server.append((updated - created).total_seconds() * 1000)
        in_steps = 0.0
        for step in task["steps"]:
            ms = (
                datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])
            ).total_seconds() * 1000
            parts.setdefault(step["type"], []).append(ms)
            in_steps += ms
        parts.setdefault("between steps", []).append(server[-1] - in_steps)
    return server, observed, parts


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--settle", type=float, default=8.0, help="quiet seconds before reading RSS")
    args = parser.parse_args()
    pages = PageServer().start()
    stack = Devstack(
        stack_dir() / "data", {"FETCH_ALLOWED_HOSTS": pages.hostport, "LOG_LEVEL": "WARNING", **UNLIMITED}
    )
    figures: dict[str, float] = {}
    try:
        figures["ready_s"] = stack.wait_ready()
        with httpx.Client(base_url=stack.url("gateway"), timeout=30) as client:
            token = client.post("/api/session").json()["session_token"]
            headers = {"Authorization": f"Bearer {token}"}
            measure_chat(client, headers, 20)  # warm up connections and caches
            chats = measure_chat(client, headers, args.chats)
            page = pages.url(f"/pages/{PAGE}.html")
            server, observed, parts = measure_tasks(client, headers, page, args.tasks)
        time.sleep(args.settle)
        rss = {name: rss_mb(pid) for name, pid in stack.service_pids().items()}
    finally:
        stack.stop()
        pages.stop()
    figures.update(
        chat_p50_ms=statistics.median(chats),
        chat_p99_ms=percentile(chats, 99),
        article_task_p50_ms=statistics.median(server),
        article_task_p99_ms=percentile(server, 99),
        article_task_observed_p50_ms=statistics.median(observed),
        max_idle_rss_mb=max(rss.values()),
    )
    print(f"ready_s {figures['ready_s']:.2f}")
    print(
        f"chat ms: p50 {figures['chat_p50_ms']:.2f}, p99 {figures['chat_p99_ms']:.2f} ({len(chats)} requests)"
    )
    print(
        f"article task ms (submit -> completed, {PAGE}): p50 {figures['article_task_p50_ms']:.1f}, "
        f"p99 {figures['article_task_p99_ms']:.1f}; as a polling client saw it: p50 "
        f"{figures['article_task_observed_p50_ms']:.1f}"
    )
    print(
        "  where it goes, median ms: "
        + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in parts.items())
    )
    print("idle RSS MB: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(rss.items())))
    figures.update({f"idle_rss_mb_{name}": mb for name, mb in rss.items()})
    record("latency", figures)
    return figures


if __name__ == "__main__":
    main()
