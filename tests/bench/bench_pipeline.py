"""Pipeline benchmark (not a test): the same trivial step through our queue, with every
result persisted in PostgreSQL, against Celery 5 (Redis broker, acks_late, Redis result
backend) and Dramatiq 2 (Redis broker, Results middleware), on the same Redis and at the
same process counts.

    .venv/bin/python -m tests.bench.bench_pipeline [--tasks 5000] [--processes 1,2] [--scale 4] [--rounds 3]

Each system is measured three ways, with N tasks each time:
- enqueue: the client alone, no worker running (ours: as the orchestrator does it, task and
  step rows in one transaction, then XADD; Celery: apply_async; Dramatiq: send);
- drain: workers started on the full queue, rate from the first to the last completion;
- end to end: workers idle and ready, the client enqueues while they work, until the last
  result is stored. The client shares the 2 cores with the workers here, as it would.
Our step is `echo` (returns its text); Celery's and Dramatiq's task returns "ok".
Ours also runs at the --scale process counts, and its end-to-end phase is charged by part
(client, workers, PostgreSQL, Redis) in CPU ms per 1,000 tasks: where the next bottleneck is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent_common import queue
from agent_common.db import create_pool
from agent_common.devstack import Ports, Stack, free_port
from agent_common.devstack.processes import wait_http_ready
from agent_common.plans import PlanStep, as_graph
from agent_common.redisconn import create_redis
from agent_common.settings import Settings
from agent_orchestrator.intake import Intake
from tests.bench import others
from tests.bench.figures import record
from tests.bench.others import drain_rate, spawn, stop_all, wait_count
from tests.bench.procstat import cpu_seconds, tree_cpu_seconds
from tests.support.stackdir import stack_dir
from tests.support.toolvenv import tool_python

REPO = Path(__file__).resolve().parents[2]
# ours: the worker's default WORKER_CONCURRENCY (steps in flight per process, coroutines)
OUR_CONCURRENCY = Settings().worker_concurrency
ENQUEUE_CONCURRENCY = 32
ECHO = as_graph([PlanStep("echo", {"text": "ok"})])  # one step that returns "ok", its plan built once


@dataclass
class Figures:
    system: str
    processes: int
    enqueue: float  # tasks/s
    drain: float
    end_to_end: float
    # ours, end-to-end phase: CPU ms per 1,000 tasks by part (client, workers, postgres, redis)
    cpu_ms_per_1k: dict[str, float] | None = None


# ---- ours -----------------------------------------------------------------------------------


async def enqueue_ours(url: str, redis_url: str, user: str, n: int) -> float:
    """Submit n echo tasks through the orchestrator's own intake (the code behind POST /task,
    without HTTP), ENQUEUE_CONCURRENCY at a time."""
    settings = Settings(database_url=url, redis_url=redis_url, db_pool_max=ENQUEUE_CONCURRENCY)
    pool = await create_pool(settings)
    rds = create_redis(settings)
    await queue.ensure_group(rds)
    intake = Intake(pool, rds, status_ttl_s=3600)
    intake.start()
    todo = iter(range(n))

    async def client() -> None:
        for _ in todo:
            await intake.submit(user, "bench", "echo", ECHO)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(ENQUEUE_CONCURRENCY)))
    seconds = time.perf_counter() - start
    await intake.stop()
    await pool.close()
    await rds.aclose()
    return n / seconds


def completed_ours(ports: list[int]) -> Callable[[], int]:
    """Echo steps completed so far, from the workers' own counters: O(1) per poll, where a
    count(*) over a growing table would load the database it is measuring."""
    pattern = re.compile(r'^worker_steps_total\{outcome="completed",type="echo"\} ([0-9.e+]+)$', re.M)

    def count() -> int:
        total = 0
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
                match = pattern.search(resp.read().decode())
            total += int(float(match.group(1))) if match else 0
        return total

    return count


def start_ours(
    stack: Stack, processes: int, log_dir: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    procs, ports = [], []
    for i in range(processes):  # all started at once, so that none drains the queue alone for long
        port = free_port()
        env = {
            "DATABASE_URL": stack.pg.url,
            "REDIS_URL": stack.redis.url,
            "METRICS_PORT": str(port),
            "WORKER_CONCURRENCY": str(OUR_CONCURRENCY),
            "LOG_LEVEL": "WARNING",
            "HOST": "127.0.0.1",
        }
        log = log_dir / f"ours-{processes}-{i}.log"
        procs.append(spawn([sys.executable, "-m", "agent_worker"], env, log))
        ports.append(port)
    for proc, port in zip(procs, ports, strict=True):
        wait_http_ready(f"http://127.0.0.1:{port}/ready", 60, proc)  # type: ignore[arg-type]
    return procs, ports


def bench_ours(stack: Stack, n: int, processes: int, log_dir: Path) -> Figures:
    user = f"bench-{uuid.uuid4().hex[:8]}"
    enqueue = asyncio.run(enqueue_ours(stack.pg.url, stack.redis.url, user, n))
    workers, ports = start_ours(stack, processes, log_dir)
    count = completed_ours(ports)
    try:
        drain = drain_rate(*wait_count(count, n), n)
        parts = cpu_parts(stack, workers)
        before = {name: read() for name, read in parts.items()}
        start = time.perf_counter()
        asyncio.run(enqueue_ours(stack.pg.url, stack.redis.url, user, n))
        _, last, _ = wait_count(count, 2 * n)
        e2e = n / (last - start)
        cpu = {name: (read() - before[name]) / n * 1e6 for name, read in parts.items()}
    finally:
        stop_all(workers)
    return Figures("agent-system", processes, enqueue, drain, e2e, cpu)


def cpu_parts(stack: Stack, workers: list[subprocess.Popen[bytes]]) -> dict[str, Callable[[], float]]:
    """Where the CPU goes: the client (this process, submitting as the orchestrator does),
    the workers, PostgreSQL (postmaster and backends) and Redis."""
    postmaster = int((stack.pg.data_dir / "postmaster.pid").read_text().split()[0])
    redis_pid = stack.redis.pid
    assert redis_pid is not None
    return {
        "client": time.process_time,
        "workers": lambda: cpu_seconds([w.pid for w in workers]),
        "postgres": lambda: tree_cpu_seconds(postmaster),
        "redis": lambda: cpu_seconds([redis_pid]),
    }


# ---- Celery and Dramatiq ---------------------------------------------------------------------


def bench_other(system: str, stack: Stack, n: int, processes: int, log_dir: Path) -> Figures:
    """Measured by tests.bench.others in its own environment (see there why)."""
    python = tool_python("bench-others")  # requirements/bench-others.in, locked
    out = subprocess.run(
        [
            str(python),
            "-m",
            "tests.bench.others",
            "--system",
            system,
            "--processes",
            str(processes),
            "--tasks",
            str(n),
            "--redis",
            stack.redis.url.rsplit("/", 1)[0],
            "--log-dir",
            str(log_dir),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{system} benchmark failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return Figures(system, processes, figures["enqueue"], figures["drain"], figures["end_to_end"])


# ---- report ----------------------------------------------------------------------------------


def median_round(rounds: list[Figures]) -> Figures:
    """The round with the median end-to-end rate (its other figures come from the same round)."""
    return sorted(rounds, key=lambda f: f.end_to_end)[len(rounds) // 2]


def report(rows: list[Figures]) -> dict[str, float]:
    print("\nmedian round")
    print(f"{'system':<14}{'processes':>10}{'enqueue/s':>12}{'drain/s':>12}{'end-to-end/s':>14}")
    for r in rows:
        print(f"{r.system:<14}{r.processes:>10}{r.enqueue:>12.0f}{r.drain:>12.0f}{r.end_to_end:>14.0f}")
    figures = {
        f"pipeline_{r.system}_{r.processes}p_{kind}_per_s": getattr(r, kind)
        for r in rows
        for kind in ("enqueue", "drain", "end_to_end")
    }
    ours = [r for r in rows if r.cpu_ms_per_1k]
    if ours:
        parts = list(ours[0].cpu_ms_per_1k or {})
        print(
            f"\nCPU ms per 1,000 tasks, end to end (ours)\n{'processes':<10}"
            + "".join(f"{p:>10}" for p in parts)
            + f"{'total':>10}"
        )
        for r in ours:
            cpu = r.cpu_ms_per_1k or {}
            print(
                f"{r.processes:<10}"
                + "".join(f"{cpu[p]:>10.0f}" for p in parts)
                + f"{sum(cpu.values()):>10.0f}"
            )
            figures.update({f"pipeline_cpu_ms_per_1k_{r.processes}p_{p}": cpu[p] for p in parts})
    by = {(r.system, r.processes): r for r in rows}
    for other in ("celery", "dramatiq"):
        ratios = {}
        for procs in sorted({r.processes for r in rows}):
            mine, theirs = by.get(("agent-system", procs)), by.get((other, procs))
            if mine and theirs:
                ratios[procs] = mine.end_to_end / theirs.end_to_end
                print(f"end-to-end ratio to {other} at {procs} process(es): {ratios[procs]:.2f}")
        # the weaker of the process counts: the claim has to hold at each
        figures[f"pipeline_vs_{other}_ratio"] = min(ratios.values()) if ratios else float("nan")
    return figures


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--processes", default="1,2", help="process counts for every system")
    parser.add_argument("--scale", default="4", help="further process counts for ours alone ('' for none)")
    parser.add_argument("--systems", default="agent-system,celery,dramatiq")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds over every system and process count; the median is reported",
    )
    args = parser.parse_args()
    stack = Stack(stack_dir(), ports=Ports.free(), durable=True, workers=0)
    stack.start_infra()
    log_dir = stack.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = [(system, int(p)) for p in args.processes.split(",") for system in args.systems.split(",")]
    runs += [("agent-system", int(p)) for p in args.scale.split(",") if p]
    measured: dict[tuple[str, int], list[Figures]] = {run: [] for run in runs}
    try:
        print(
            f"load before: {os.getloadavg()[0]:.2f}; {args.tasks} tasks per measurement, {args.rounds}"
            f" interleaved rounds; in flight per process: ours {OUR_CONCURRENCY} (its default),"
            f" Dramatiq {others.THREADS} threads (its default), Celery 1 (prefork)",
            flush=True,
        )
        # rounds over everything rather than each system's runs back to back: a neighbour's
        # load on this shared machine then falls on every system alike
        for _ in range(args.rounds):
            for system, procs in runs:
                if system == "agent-system":
                    one = bench_ours(stack, args.tasks, procs, log_dir)
                else:
                    one = bench_other(system, stack, args.tasks, procs, log_dir)
                measured[(system, procs)].append(one)
                print(f"  {one}", flush=True)
    finally:
        stack.stop()
    rows = [median_round(measured[run]) for run in runs]
    figures = report(rows)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(f"pipeline_vs_celery_ratio: {figures['pipeline_vs_celery_ratio']:.2f}")
    record("pipeline", figures)
    return figures


if __name__ == "__main__":
    main()
