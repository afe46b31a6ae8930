"""`echo`: returns its text unchanged, with no I/O. No planner emits it; it measures the
pipeline itself (claim, record, acknowledge) in benchmarks and proves a worker is alive."""

from __future__ import annotations

from typing import Any

from agent_worker.steps import StepContext, StepInput


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    return {"text": str(params.get("text", ""))}
