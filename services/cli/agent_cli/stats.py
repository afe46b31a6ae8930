"""Percentiles for the load report (nearest rank: every figure is one that was measured)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | None]:
    figures = {f"p{p}": percentile(values, p) for p in (50, 90, 99)}
    figures["max"] = max(values) if values else None
    return {k: (round(v, digits) if v is not None else None) for k, v in figures.items()}
