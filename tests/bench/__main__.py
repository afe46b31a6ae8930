"""`make bench`: every benchmark under tests/bench, one after another, each printing its
figures; then one table of the headline figures against their goals, and the seven lines
that the Performance issue asks for, all from this one run on this machine.

Benchmarks are scripts, not tests: they print what they measure and assert nothing about
speed, because a timed assertion would test the machine's load rather than the code.

    .venv/bin/python -m tests.bench [bench_pipeline bench_gateway ...]
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench.figures import ENV, read

BENCHMARKS = [
    "bench_render",
    "bench_extract",
    "bench_pipeline",
    "bench_gateway",
    "bench_latency",
    "bench_tracing",
    "bench_fanout",
]

# (figure, how it is shown, goal as text, goal test); the seven the issue names come first
HEADLINE = [
    ("pipeline_vs_celery_ratio", "{:.2f}", ">= 2", lambda v: v >= 2),
    ("gateway_vs_nginx_ratio", "{:.2f}", ">= 0.6", lambda v: v >= 0.6),
    ("gateway_added_p50_ms", "{:.2f}", "< 1", lambda v: v < 1),
    ("article_task_p50_ms", "{:.1f}", "< 150", lambda v: v < 150),
    ("chat_p50_ms", "{:.2f}", "< 10", lambda v: v < 10),
    ("max_idle_rss_mb", "{:.1f}", "< 80", lambda v: v < 80),
    ("ready_s", "{:.2f}", "< 10", lambda v: v < 10),
]
# (figure, how it is shown, label, goal as text or "")
DETAIL = [
    ("pipeline_vs_dramatiq_ratio", "{:.2f}", "ours / Dramatiq end to end (weaker of 1, 2)", "> 1"),
    ("pipeline_agent-system_1p_end_to_end_per_s", "{:,.0f}", "tasks/s, ours, 1 worker process", ""),
    ("pipeline_agent-system_2p_end_to_end_per_s", "{:,.0f}", "tasks/s, ours, 2 worker processes", ""),
    ("pipeline_agent-system_4p_end_to_end_per_s", "{:,.0f}", "tasks/s, ours, 4 worker processes", ""),
    ("pipeline_celery_1p_end_to_end_per_s", "{:,.0f}", "tasks/s, Celery, 1 process", ""),
    ("pipeline_celery_2p_end_to_end_per_s", "{:,.0f}", "tasks/s, Celery, 2 processes", ""),
    ("pipeline_dramatiq_1p_end_to_end_per_s", "{:,.0f}", "tasks/s, Dramatiq, 1 process", ""),
    ("pipeline_dramatiq_2p_end_to_end_per_s", "{:,.0f}", "tasks/s, Dramatiq, 2 processes", ""),
    ("pipeline_agent-system_1p_enqueue_per_s", "{:,.0f}", "tasks/s submitted, ours, no worker running", ""),
    ("gateway_bench_gateway_rps", "{:,.0f}", "req/s through the gateway (wrk -c32)", ""),
    ("gateway_bench_nginx_rps", "{:,.0f}", "req/s through nginx (wrk -c32)", ""),
    ("gateway_bench_gateway_cpu_us", "{:.0f}", "gateway CPU us per request", ""),
    ("gateway_bench_nginx_cpu_us", "{:.0f}", "nginx CPU us per request", ""),
    ("gateway_added_p50_ms_c1", "{:.2f}", "ms the gateway adds, one connection", "< 1"),
    ("article_task_p99_ms", "{:.1f}", "article task p99 ms", ""),
    ("chat_p99_ms", "{:.2f}", "chat p99 ms", ""),
    ("tracing_gateway_overhead_pct", "{:.1f}", "% gateway req/s lost to tracing (all sampled)", ""),
    ("tracing_pipeline_overhead_pct", "{:.1f}", "% pipeline tasks/s lost to tracing (all sampled)", ""),
    ("extract_pages_per_s", "{:.1f}", "pages/s extracted", ""),
    ("summarize_long_article_ms", "{:.1f}", "ms to summarize one 10,000-word article", ""),
    ("render_prod_s", "{:.2f}", "s to render overlays/prod", ""),
    ("fanout_vs_sequential_ratio", "{:.2f}", "3-branch task / its 3 summaries one by one", "<= 0.5"),
    ("fanout_task_ms", "{:.0f}", "ms, 3 pages (300 ms each) in one task", ""),
    ("fanout_sequential_ms", "{:.0f}", "ms, the same 3 summaries one after another", ""),
]
GOALS = {
    ">= 2": lambda v: v >= 2,
    "> 1": lambda v: v > 1,
    "< 1": lambda v: v < 1,
    "<= 0.5": lambda v: v <= 0.5,
}


def show(figures: dict[str, float], name: str, fmt: str) -> str:
    value = figures.get(name)
    return "n/a" if value is None or math.isnan(value) else fmt.format(value)


def verdict(value: float | None, met: object) -> str:
    if not callable(met):
        return ""
    return "-" if value is None or math.isnan(value) else ("yes" if met(value) else "NO")


def summary(figures: dict[str, float]) -> None:
    print(f"\n{'figure':<50}{'value':>10}  {'goal':<8}{'met':<5}")
    for name, fmt, goal, met in HEADLINE:
        print(f"{name:<50}{show(figures, name, fmt):>10}  {goal:<8}{verdict(figures.get(name), met):<5}")
    for name, fmt, label, goal in DETAIL:
        if name in figures:
            met = verdict(figures.get(name), GOALS.get(goal))
            print(f"{label:<50}{show(figures, name, fmt):>10}  {goal:<8}{met:<5}")
    print()
    for name, fmt, _, _ in HEADLINE:
        print(f"{name}: {show(figures, name, fmt)}")


def main(names: list[str]) -> int:
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        path = Path(tmp) / "figures.jsonl"
        env = {**os.environ, ENV: str(path)}
        for name in names or BENCHMARKS:
            print(f"\n=== {name} ===", flush=True)
            if subprocess.run([sys.executable, "-m", f"tests.bench.{name}"], env=env, check=False).returncode:
                failed.append(name)
        summary(read(path))
    if failed:
        print(f"\nbenchmarks that did not finish: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
