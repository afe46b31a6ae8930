"""`make bench`: every benchmark under tests/bench, one after another, each printing its figures.

Benchmarks are scripts, not tests: they print what they measure and assert nothing about
speed, because a timed assertion would test the machine's load rather than the code."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench_render", "bench_extract", "bench_pipeline", "bench_gateway", "bench_tracing"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"tests.bench.{name}"], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that did not finish: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
