"""What tracing costs: the gateway's proxy path and the task pipeline with tracing off
(OTEL_EXPORTER_OTLP_ENDPOINT unset) and on (every span exported to a local OTLP collector
stand-in that accepts and discards, sampling everything: the worst case).

Gateway: two gateways, one of each, in front of the same small upstream (the one
bench_gateway uses), each driven by `wrk -t1 -c32 --latency` in interleaved rounds so that
other load on the machine hits both alike; the median round is shown. Pipeline: an
orchestrator and one worker (concurrency 8) of each kind in turn; N plain-text tasks
through POST /task, timed from the first POST to the last task completed.

`python -m tests.bench.bench_tracing [--duration 5] [--rounds 3] [--tasks 200]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx

from agent_common.devstack import Ports, ServiceProcess, Stack, free_port
from tests.bench.bench_gateway import Result, create_session, loadavg, median, start_upstream, wrk
from tests.bench.figures import record
from tests.support.otlp import Collector

TEXT = (
    "Tracing follows one request through every process it touches. Each span records "
    "where the time went. A sampler decides which traces are kept. "
) * 6


def traced_env(on: bool, collector: Collector) -> dict[str, str]:
    if not on:
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_TRACES_SAMPLER": "always_on"}


def start(
    stack: Stack, name: str, module: str, env: dict[str, str], port_var: str = "PORT"
) -> ServiceProcess:
    port = free_port()
    proc = ServiceProcess(
        name,
        module,
        {**stack.env(), "LOG_LEVEL": "WARNING", port_var: str(port), **env},
        ready_url=f"http://127.0.0.1:{port}/ready",
        log_dir=stack.log_dir,
    )
    proc.start().wait_ready()
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc


def bench_gateway(stack: Stack, collector: Collector, args: argparse.Namespace) -> dict[str, Result]:
    upstream_port = free_port()
    upstream = start_upstream(upstream_port, stack.log_dir)
    to_upstream = {
        "ORCHESTRATOR_URL": f"http://127.0.0.1:{upstream_port}",
        "RATE_LIMIT_CAPACITY": "1e12",
        "RATE_LIMIT_REFILL_PER_S": "1e12",
    }
    gateways = {
        mode: start(
            stack, f"gateway-{mode}", "agent_gateway", {**to_upstream, **traced_env(mode == "on", collector)}
        )
        for mode in ("off", "on")
    }
    try:
        rounds: dict[str, list[Result]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for mode, proc in gateways.items():
                url = proc.url + "/api/tasks"  # type: ignore[attr-defined]
                headers = [f"Authorization: Bearer {create_session(proc.url)}"]  # type: ignore[attr-defined]
                wrk(url, seconds=1, connections=32, headers=headers)  # warm up
                rounds[mode].append(wrk(url, seconds=args.duration, connections=32, headers=headers))
        return {mode: median(results) for mode, results in rounds.items()}
    finally:
        for proc in gateways.values():
            proc.stop()
        upstream.terminate()
        upstream.wait()


async def run_tasks(url: str, n: int) -> float:
    """Tasks per second from the first POST to the last one completed."""
    user = f"bench-{os.urandom(4).hex()}"
    headers = {"X-User-Id": user}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        started = time.perf_counter()
        sem = asyncio.Semaphore(16)

        async def one() -> str:
            async with sem:
                answer = await client.post("/task", json={"title": "b", "description": TEXT}, headers=headers)
                return str(answer.json()["task_id"])

        await asyncio.gather(*(one() for _ in range(n)))
        while True:
            tasks = (await client.get("/tasks", params={"limit": 200}, headers=headers)).json()
            if len(tasks) >= min(n, 200) and all(t["status"] == "completed" for t in tasks):
                return n / (time.perf_counter() - started)
            await asyncio.sleep(0.2)


def bench_pipeline(stack: Stack, collector: Collector, args: argparse.Namespace) -> dict[str, float]:
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(2):
        for mode in ("off", "on"):
            env = traced_env(mode == "on", collector)
            orch = start(stack, f"orchestrator-{mode}", "agent_orchestrator", env)
            worker = start(stack, f"worker-{mode}", "agent_worker", env, port_var="METRICS_PORT")
            try:
                rates[mode].append(asyncio.run(run_tasks(orch.url, args.tasks)))  # type: ignore[attr-defined]
            finally:
                worker.stop()
                orch.stop()
    return {mode: sorted(values)[len(values) // 2] for mode, values in rates.items()}


def overhead(off: float, on: float) -> str:
    return f"{(off - on) / off * 100:+.1f} %" if off else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=200, help="tasks per pipeline run")
    args = parser.parse_args()
    collector = Collector(keep=False).start()
    base = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    stack = Stack(base, ports=Ports.free(workers=0), workers=0, durable=False)
    load_before = loadavg()
    try:
        stack.start_infra()
        gateway = bench_gateway(stack, collector, args)
        pipeline = bench_pipeline(stack, collector, args)
    finally:
        stack.stop()
        collector.stop()
    print(f"\nload average before {load_before}, after {loadavg()} (2 cores, shared)")
    print(
        f"gateway: wrk -t1 -c32 -d{args.duration}s, median of {args.rounds} interleaved rounds;"
        f" pipeline: {args.tasks} tasks, median of 2 runs each; collector exports received:"
        f" {collector.requests}"
    )
    print("\n| tracing | gateway req/s | gateway p50 ms | gateway p99 ms | pipeline tasks/s |")
    print("| --- | --- | --- | --- | --- |")
    for mode in ("off", "on"):
        g = gateway[mode]
        print(f"| {mode} | {g.rps:,.0f} | {g.p50_ms:.2f} | {g.p99_ms:.2f} | {pipeline[mode]:.1f} |")
    print(
        f"\ngateway throughput overhead: {overhead(gateway['off'].rps, gateway['on'].rps)}"
        f" (p50 {gateway['on'].p50_ms - gateway['off'].p50_ms:+.2f} ms);"
        f" pipeline throughput overhead: {overhead(pipeline['off'], pipeline['on'])}"
    )
    record(
        "tracing",
        {
            "tracing_gateway_overhead_pct": (gateway["off"].rps - gateway["on"].rps)
            / gateway["off"].rps
            * 100,
            "tracing_pipeline_overhead_pct": (pipeline["off"] - pipeline["on"]) / pipeline["off"] * 100,
        },
    )


if __name__ == "__main__":
    main()
