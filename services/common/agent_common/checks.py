"""Readiness checks: each dependency answers within a bound time, or the service is not ready."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Check = Callable[[], Awaitable[object]]
# how long /ready waits for each dependency before calling it down
READY_CHECK_TIMEOUT_S = 2.0


async def run_checks(checks: dict[str, Check]) -> dict[str, str]:
    """{"postgres": "ok", "redis": "down: ConnectionError", ...}, all checked at once."""

    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), READY_CHECK_TIMEOUT_S)
            return "ok"
        except Exception as exc:  # any failure means not ready; say which kind
            return f"down: {exc.__class__.__name__}"

    names = list(checks)
    outcomes = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, outcomes, strict=True))
