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


def registry() -> dict[str, StepFn]:
    """Every tool the worker can run, by name (the names of agent_common.tools)."""
    from agent_worker.steps import answer, combine, compare, echo, extract_text, fetch_url, replan, summarize

    return {
        "fetch_url": fetch_url.run,
        "extract_text": extract_text.run,
        "summarize": summarize.run,
        "answer": answer.run,
        "compare": compare.run,
        "combine": combine.run,
        "replan": replan.run,
        "echo": echo.run,
    }
