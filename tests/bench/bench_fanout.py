"""Fan-out benchmark (not a test): a plan's branches run at once, on the system as `make run`
starts it (two workers).

    .venv/bin/python -m tests.bench.bench_fanout [--rounds 7] [--delay 0.3]

Each round, on pages the local server delays by --delay seconds each:
- fan-out: one task "Summarize A, B and C": three fetch -> extract -> summarize branches in
  parallel, joined by `combine`;
- sequential: the same three summaries as three one-page tasks, one after another.
Both are timed on the server (each task's created_at to its completion); the rounds
alternate the two, and the medians are compared: `fanout_vs_sequential_ratio` (goal <= 0.5:
the slowest branch plus the join, not the sum of the branches).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from typing import Any

import httpx

from tests.bench.bench_latency import UNLIMITED, Devstack
from tests.bench.figures import record
from tests.support.pageserver import PageServer
from tests.support.stackdir import stack_dir

PAGES = ("ietf-1", "lwn-1", "bbc-1")


def run_task(client: httpx.Client, headers: dict[str, str], description: str) -> dict[str, Any]:
    r = client.post("/api/task", json={"title": "bench", "description": description}, headers=headers)
    r.raise_for_status()
    tid = r.json()["task_id"]
    while True:
        task = client.get(f"/api/tasks/{tid}", headers=headers).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            assert task["status"] == "completed", task
            return task
        time.sleep(0.005)


def server_ms(task: dict[str, Any]) -> float:
    return (
        datetime.fromisoformat(task["updated_at"]) - datetime.fromisoformat(task["created_at"])
    ).total_seconds() * 1000


def timeline(task: dict[str, Any]) -> dict[str, float]:
    """ms from the task's creation to each step's start and end (the slowest of its type)."""
    created = datetime.fromisoformat(task["created_at"])

    def at(value: str) -> float:
        return (datetime.fromisoformat(value) - created).total_seconds() * 1000

    marks: dict[str, float] = {}
    for step in task["steps"]:
        for edge in ("started", "finished"):
            key = f"{step['type']} {edge}"
            marks[key] = max(marks.get(key, 0.0), at(step[f"{edge}_at"]))
    return marks


def branches_overlap(task: dict[str, Any]) -> bool:
    fetches = [s for s in task["steps"] if s["type"] == "fetch_url"]
    starts = [datetime.fromisoformat(s["started_at"]) for s in fetches]
    ends = [datetime.fromisoformat(s["finished_at"]) for s in fetches]
    return max(starts) < min(ends)


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the server waits before each page")
    args = parser.parse_args()
    pages = PageServer().start()
    stack = Devstack(
        stack_dir() / "data", {"FETCH_ALLOWED_HOSTS": pages.hostport, "LOG_LEVEL": "WARNING", **UNLIMITED}
    )
    fanout, sequential, overlapped = [], [], 0
    marks: dict[str, list[float]] = {}
    try:
        stack.wait_ready()
        with httpx.Client(base_url=stack.url("gateway"), timeout=60) as client:
            token = client.post("/api/session").json()["session_token"]
            headers = {"Authorization": f"Bearer {token}"}
            for n in range(args.rounds + 1):  # round 0 warms up connections and caches
                urls = [pages.url(f"/slow/{p}.html?delay={args.delay}&round={n}") for p in PAGES]
                task = run_task(client, headers, f"Summarize {urls[0]}, {urls[1]} and {urls[2]}")
                one_by_one = [run_task(client, headers, f"Summarize {url}") for url in urls]
                if n:
                    fanout.append(server_ms(task))
                    sequential.append(sum(server_ms(t) for t in one_by_one))
                    overlapped += branches_overlap(task)
                    for key, ms in timeline(task).items():
                        marks.setdefault(key, []).append(ms)
    finally:
        stack.stop()
        pages.stop()
    figures = {
        "fanout_task_ms": statistics.median(fanout),
        "fanout_sequential_ms": statistics.median(sequential),
    }
    figures["fanout_vs_sequential_ratio"] = figures["fanout_task_ms"] / figures["fanout_sequential_ms"]
    print(f"three pages, each delayed {args.delay * 1000:.0f} ms, {args.rounds} rounds (medians):")
    print(
        f"  one task, three branches and a join: {figures['fanout_task_ms']:.0f} ms"
        f" (branches overlapped in {overlapped}/{args.rounds} rounds)"
    )
    print(
        "  its timeline, median ms after creation (the last of each step type): "
        + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in marks.items())
    )
    print(f"  three one-page tasks one after another: {figures['fanout_sequential_ms']:.0f} ms")
    print(f"fanout_vs_sequential_ratio: {figures['fanout_vs_sequential_ratio']:.2f} (goal <= 0.5)")
    record("fanout", figures)
    return figures


if __name__ == "__main__":
    main()
