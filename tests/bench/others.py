"""The pipeline benchmark's other systems, Celery 5 and Dramatiq 2, measured as ours is:
enqueue alone, drain alone, end to end, N no-op tasks, on the same Redis.

Celery pins python-dateutil below what the kubernetes client (dev extra) needs, so these two
live in a virtual environment of their own (requirements/bench-others.txt, a lock of its own,
installed by tests.support.toolvenv);
bench_pipeline runs this module with that environment's Python:

    python -m tests.bench.others --system celery --processes 2 --tasks 5000 \\
        --redis redis://127.0.0.1:6379 --log-dir DIR        # prints the figures as JSON

Only the standard library and redis-py at import time: bench_pipeline imports the shared
helpers below from the main environment too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
THREADS = 8  # Dramatiq's default threads per process
DEADLINE_S = 300.0


# ---- shared with bench_pipeline ----------------------------------------------------------


def wait_count(count: Callable[[], int], n: int, deadline_s: float = DEADLINE_S) -> tuple[float, float, int]:
    """Poll until count() reaches n. Returns (time of the first completion seen, time of
    the last, the count at the first sighting)."""
    end = time.monotonic() + deadline_s
    first_t, first_c = 0.0, 0
    while time.monotonic() < end:
        c = count()
        now = time.perf_counter()
        if c and not first_t:
            first_t, first_c = now, c
        if c >= n:
            return first_t, now, first_c
        time.sleep(0.02)
    raise TimeoutError(f"only {count()} of {n} done after {deadline_s}s")


def drain_rate(first_t: float, last_t: float, first_c: int, n: int) -> float:
    return (n - first_c) / (last_t - first_t) if last_t > first_t else float("nan")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child holds it
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def wait_log(log: Path, text: str, count: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and log.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not seen {count} times in {log}")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


# ---- Celery and Dramatiq -------------------------------------------------------------------


def measure(system: str, redis_base: str, n: int, processes: int, log_dir: Path) -> dict[str, float]:
    env = {"BENCH_REDIS_URL": redis_base, "PYTHONPATH": str(REPO)}
    os.environ.update(env)
    results_db = 2 if system == "celery" else 4
    broker_db = 1 if system == "celery" else 3
    results = redis.Redis.from_url(f"{redis_base}/{results_db}")

    def count() -> int:
        return int(results.dbsize())

    def reset() -> None:
        for db in (broker_db, results_db):
            redis.Redis.from_url(f"{redis_base}/{db}").flushdb()

    send = _sender(system)
    reset()
    start = time.perf_counter()
    for _ in range(n):
        send()
    enqueue = n / (time.perf_counter() - start)
    workers = _start(system, processes, env, log_dir)
    try:
        drain = drain_rate(*wait_count(count, n), n)
        reset()
        start = time.perf_counter()
        for _ in range(n):
            send()
        _, last, _ = wait_count(count, n)
        e2e = n / (last - start)
    finally:
        stop_all(workers)
    return {"enqueue": enqueue, "drain": drain, "end_to_end": e2e}


def _sender(system: str) -> Callable[[], object]:
    if system == "celery":
        from tests.bench.celery_app import noop as celery_noop

        return celery_noop.delay
    from tests.bench.dramatiq_app import noop as dramatiq_noop

    return dramatiq_noop.send


def _start(system: str, processes: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    log = log_dir / f"{system}-{processes}.log"
    if system == "celery":
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.bench.celery_app",
            "worker",
            "-c",
            str(processes),
            "-P",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
        proc = spawn(args, env, log)
        wait_log(log, "ready.", 1)
    else:
        args = [
            sys.executable,
            "-m",
            "dramatiq",
            "tests.bench.dramatiq_app",
            "-p",
            str(processes),
            "-t",
            str(THREADS),
        ]
        proc = spawn(args, env, log)
        wait_log(log, "is ready for action", processes)
    return [proc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=["celery", "dramatiq"], required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port, without a database")
    parser.add_argument("--log-dir", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.system, args.redis, args.tasks, args.processes, args.log_dir)))


if __name__ == "__main__":
    main()
