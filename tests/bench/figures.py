"""Figures handed from each benchmark to `make bench`'s summary.

Each benchmark runs in its own process; when `make bench` runs it, BENCH_FIGURES_FILE names
a file where `record` appends one JSON line per benchmark. Run alone, a benchmark only prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "BENCH_FIGURES_FILE"


def record(bench: str, figures: dict[str, float]) -> None:
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"bench": bench, "figures": figures}) + "\n")


def read(path: Path) -> dict[str, float]:
    """Every figure recorded in the file, by name (a later benchmark's figure wins)."""
    merged: dict[str, float] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            merged.update(json.loads(line)["figures"])
    return merged
