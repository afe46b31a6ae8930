"""How long `kubectl kustomize overlays/<env>` takes (wall and CPU, best of 5).

Run: .venv/bin/python -m tests.bench.bench_render"""

from __future__ import annotations

import resource
import subprocess
import time

from tests.bench.figures import record
from tests.manifests.support import ENVS, REPO, kubectl

RUNS = 5


def timed_render(env: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([kubectl(), "kustomize", str(REPO / "overlays" / env)], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> dict[str, tuple[float, float]]:
    figures = {}
    print(f"{'overlay':<10}{'wall s':>10}{'cpu s':>10}")
    for env in ENVS:
        runs = [timed_render(env) for _ in range(RUNS)]
        figures[env] = (min(w for w, _ in runs), min(c for _, c in runs))
        print(f"{env:<10}{figures[env][0]:>10.3f}{figures[env][1]:>10.3f}")
    record("render", {f"render_{env}_s": wall for env, (wall, _) in figures.items()})
    return figures


if __name__ == "__main__":
    main()
