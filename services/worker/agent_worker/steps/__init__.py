"""Step implementations. Each is `async def run(params, previous, ctx) -> dict`:

- `params`: what the planner stored for the step (e.g. {"url": ...});
- `previous`: the output of the step before it in the same task, or None for the first;
- the returned dict is stored as the step's output (jsonb) and fed to the next step.

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


@dataclass
class StepContext:
    settings: WorkerSettings
    http: httpx.AsyncClient  # shared, pooled; fetch_url builds its own guarded requests
    task_id: str
    seq: int
    user_id: str = ""  # the task's owner: model calls are charged to its token budget
    redis: Any = None  # where the token budget is counted
    # token usage etc. a step wants recorded beside its output
    usage: dict[str, Any] | None = None


StepFn = Callable[[dict[str, Any], dict[str, Any] | None, StepContext], Awaitable[dict[str, Any]]]


def registry() -> dict[str, StepFn]:
    from agent_worker.steps import echo, extract_text, fetch_url, summarize

    return {"fetch_url": fetch_url.run, "extract_text": extract_text.run, "summarize": summarize.run,
            "echo": echo.run}
