"""Step implementations. Each is `async def run(params, inputs, ctx) -> dict`:

- `params`: what the planner stored for the step (e.g. {"url": ...}), valid against the
  tool's JSON Schema in agent_common.tools;
- `inputs`: one `StepInput` per step it depends on, in `depends_on` order (empty for a first
  step). An optional dependency that failed or was skipped comes with `output=None` and the
  reason in `error`: the step reports what is missing and works with the rest;
- the returned dict is stored as the step's output (jsonb) and handed to the steps that
  depend on it.

A step refuses or fails by raising `StepError` with a message a user can read.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from agent_worker.settings import WorkerSettings


class StepError(Exception):
    """A step failed for a reason the user should see (the task's error)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class StepInput:
    step_id: str  # the dependency's id in the plan (e.g. "fetch_1")
    type: str  # its tool name
    output: dict[str, Any] | None  # its output; None when an optional dependency failed/was skipped
    error: str | None = None  # why it is missing (None when output is present)


@dataclass
class StepContext:
    settings: WorkerSettings
    http: httpx.AsyncClient  # shared, pooled; fetch_url builds its own guarded requests
    task_id: str
    step_id: str = ""  # this step's id in the plan
    user_id: str = ""  # the task's owner: model calls are charged to its token budget
    redis: Any = None  # where the token budget is counted
    # token usage etc. a step wants recorded beside its output
    usage: dict[str, Any] | None = None


StepFn = Callable[[dict[str, Any], list[StepInput], StepContext], Awaitable[dict[str, Any]]]


def present(inputs: list[StepInput] | None) -> list[StepInput]:
    """The inputs that carry an output."""
    return [i for i in inputs or [] if i.output is not None]


def missing(inputs: list[StepInput] | None) -> list[dict[str, str]]:
    """What a joining step reports about the inputs it did not get."""
    return [
        {"step_id": i.step_id, "type": i.type, "error": i.error or "no output"}
        for i in inputs or []
        if i.output is None
    ]


def why_missing(inputs: list[StepInput] | None) -> str:
    """ "fetch_2 failed (answered HTTP 404)" for each missing input, for a step's error."""
    return "; ".join(f"{m['step_id']} failed ({m['error']})" for m in missing(inputs))


def first_output(inputs: list[StepInput] | None) -> dict[str, Any] | None:
    """The first input's output, for the steps that read one (extract_text, summarize)."""
    found = present(inputs)
    return found[0].output if found else None


# every tool the worker can run (the names of agent_common.tools), each agent_worker.steps.<name>
STEP_MODULES = ("fetch_url", "extract_text", "summarize", "answer", "compare", "combine", "replan", "echo")


def registry() -> dict[str, StepFn]:
    """Every tool the worker can run, by name. A step's module is imported at its first run: a
    worker that never answers or compares does not hold their rankers (about 7 MB)."""
    return {name: _on_first_use(name) for name in STEP_MODULES}


def _on_first_use(name: str) -> StepFn:
    async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
        step: StepFn = importlib.import_module(f"agent_worker.steps.{name}").run
        return await step(params, inputs, ctx)

    return run
