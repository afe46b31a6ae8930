"""The load run behind `agentctl load`: N tasks submitted with bounded concurrency, then
followed until all have ended or the deadline passes.

The tasks belong to throw-away anonymous users, one per PER_USER tasks, so that one
GET /api/tasks?limit=PER_USER per user and poll sees all of that user's tasks (no GET per
task), each user has its own rate-limit bucket, and the caller's own task list stays clean.
Latencies and throughput come from the server's created_at/updated_at, so they do not
depend on how often this client polls."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent_cli.client import ApiClient
from agent_cli.errors import CliError, Exit
from agent_cli.sessions import SessionSource
from agent_cli.stats import summary

PER_USER = 200  # the orchestrator's TASKS_PAGE_MAX default: one list call shows them all
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Plan:
    tasks: int
    url: str
    concurrency: int
    timeout_s: float
    poll_s: float = 0.5
    per_user: int = PER_USER


@dataclass
class Tracked:
    user: int
    status: str = "queued"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None


@dataclass
class Progress:
    total: int
    submitted: int = 0
    rejected: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in TERMINAL) + self.rejected


class LoadRun:
    def __init__(
        self,
        base_url: str,
        plan: Plan,
        *,
        unreachable_hint: str = "",
        on_progress: Callable[[Progress], None] = lambda _p: None,
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        users = math.ceil(plan.tasks / plan.per_user)
        per_client = max(2, plan.concurrency // users + 2)
        self.clients = [
            ApiClient(
                base_url, SessionSource(), unreachable_hint=unreachable_hint, max_connections=per_client
            )
            for _ in range(users)
        ]
        self.tracked: dict[str, Tracked] = {}
        self.submit_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.progress = Progress(plan.tasks)
        self.run_id = uuid.uuid4().hex[:8]
        self.cancelled_at_timeout = 0

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.deadline = started + self.plan.timeout_s
        self._submitted_at = self.deadline
        submitting = asyncio.create_task(self._submit_all())
        try:
            await self._follow(submitting)
            await submitting
            submit_s = self._submitted_at - started
            timed_out = (
                any(t.status not in TERMINAL for t in self.tracked.values())
                or self.progress.submitted + self.progress.rejected < self.plan.tasks
            )
            if timed_out:
                await self._cancel_unfinished()
            return self._report(time.monotonic() - started, submit_s, timed_out)
        finally:
            if not submitting.done():
                submitting.cancel()
            for client in self.clients:
                await client.http.aclose()

    # ---- submitting --------------------------------------------------------------------------

    async def _submit_all(self) -> None:
        gate = asyncio.Semaphore(self.plan.concurrency)
        await asyncio.gather(*(self._submit(i, gate) for i in range(self.plan.tasks)))
        self._submitted_at = time.monotonic()

    async def _submit(self, index: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            if time.monotonic() >= self.deadline:
                return
            user = index // self.plan.per_user
            body = {
                "title": f"load {self.run_id} {index + 1}/{self.plan.tasks}",
                "description": f"Summarize {self.plan.url}",
            }
            sent = time.perf_counter()
            try:
                created = await self.clients[user].call(
                    "POST", "/api/task", "submitting a task", json=body, wait_until=self.deadline
                )
            except CliError as exc:
                if exc.code in (Exit.UNREACHABLE, Exit.SESSION):
                    raise
                self.errors[f"submit: {exc.message}"] += 1
                self.progress.rejected += 1
                return
            self.submit_ms.append((time.perf_counter() - sent) * 1000)
            self.tracked[created["task_id"]] = Tracked(user)
            self.progress.submitted += 1

    # ---- following -----------------------------------------------------------------------------

    async def _follow(self, submitting: asyncio.Task[None]) -> None:
        while time.monotonic() < self.deadline:
            if submitting.done() and submitting.exception() is not None:
                return
            await self._poll()
            self._count()
            if submitting.done() and all(t.status in TERMINAL for t in self.tracked.values()):
                return
            await asyncio.sleep(self.plan.poll_s)

    async def _poll(self) -> None:
        users = sorted({t.user for t in self.tracked.values() if t.status not in TERMINAL})
        lists = await asyncio.gather(*(self._list(u) for u in users))
        seen: set[str] = set()
        for found in lists:
            for task in found:
                tracked = self.tracked.get(str(task["task_id"]))
                if tracked is not None:
                    seen.add(str(task["task_id"]))
                    _update(tracked, task)
        # not in its user's page (a smaller TASKS_PAGE_MAX on the server): ask for each
        missing = [tid for tid, t in self.tracked.items() if t.status not in TERMINAL and tid not in seen]
        for task_id in missing[: self.plan.concurrency]:
            task = await self.clients[self.tracked[task_id].user].call(
                "GET", f"/api/tasks/{task_id}", "reading a task", wait_until=self.deadline
            )
            _update(self.tracked[task_id], task)

    async def _list(self, user: int) -> list[dict[str, Any]]:
        try:
            return await self.clients[user].call(
                "GET",
                "/api/tasks",
                "listing the tasks",
                params={"limit": self.plan.per_user},
                wait_until=self.deadline,
            )
        except CliError as exc:
            if exc.code == Exit.RATE_LIMITED:  # the wait would pass the deadline: the next poll ends it
                return []
            raise

    def _count(self) -> None:
        self.progress.counts = Counter(t.status for t in self.tracked.values())
        self.on_progress(self.progress)

    async def _cancel_unfinished(self) -> None:
        """The run is bounded in time for the system too: what is left is cancelled."""
        left = [(tid, t) for tid, t in self.tracked.items() if t.status not in TERMINAL]
        gate = asyncio.Semaphore(self.plan.concurrency)

        async def cancel(task_id: str, tracked: Tracked) -> None:
            async with gate:
                try:
                    await self.clients[tracked.user].call(
                        "POST", f"/api/tasks/{task_id}/cancel", "cancelling"
                    )
                    self.cancelled_at_timeout += 1
                except CliError:
                    pass  # it finished meanwhile (409), or the gateway is busy: nothing more to do

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(cancel(*item) for item in left)), timeout=30)

    # ---- the figures -------------------------------------------------------------------------

    def _report(self, wall_s: float, submit_s: float, timed_out: bool) -> dict[str, Any]:
        tasks = list(self.tracked.values())
        done = [
            (t.created_at, t.updated_at)
            for t in tasks
            if t.status == "completed" and t.created_at and t.updated_at
        ]
        latencies = [(end - start).total_seconds() for start, end in done]
        span_s = 0.0
        if done:
            first = min(t.created_at for t in tasks if t.created_at)
            span_s = (max(end for _, end in done) - first).total_seconds()
        for t in tasks:
            if t.status == "failed":
                self.errors[t.error or "failed without an error message"] += 1
        statuses = Counter(t.status for t in tasks)
        return {
            "tasks": self.plan.tasks,
            "url": self.plan.url,
            "concurrency": self.plan.concurrency,
            "users": len(self.clients),
            "submitted": self.progress.submitted,
            "rejected": self.progress.rejected,
            "completed": statuses["completed"],
            "failed": statuses["failed"],
            "cancelled": statuses["cancelled"],
            "unfinished": sum(1 for t in tasks if t.status not in TERMINAL),
            "unsent": self.plan.tasks - self.progress.submitted - self.progress.rejected,
            "cancelled_at_timeout": self.cancelled_at_timeout,
            "timed_out": timed_out,
            "rate_limited_retries": sum(c.rate_limited for c in self.clients),
            "wall_s": round(wall_s, 3),
            "submit_s": round(submit_s, 3),
            "span_s": round(span_s, 3),
            "throughput_per_s": round(len(done) / span_s, 3) if span_s > 0 else None,
            "latency_s": summary(latencies),
            "submit_latency_ms": summary(self.submit_ms, 1),
            "errors": [{"message": m, "count": n} for m, n in self.errors.most_common(5)],
        }


def _update(tracked: Tracked, task: dict[str, Any]) -> None:
    tracked.status = task["status"]
    tracked.error = task.get("error")
    tracked.created_at = _time(task.get("created_at"))
    tracked.updated_at = _time(task.get("updated_at"))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
