"""`echo`: returns its text unchanged, with no I/O. No planner emits it; it measures the
pipeline itself (claim, record, acknowledge) in benchmarks and proves a worker is alive."""

from __future__ import annotations

from typing import Any

from agent_worker.steps import StepContext


async def run(params: dict[str, Any], previous: dict[str, Any] | None, ctx: StepContext) -> dict[str, Any]:
    return {"text": str(params.get("text", ""))}
