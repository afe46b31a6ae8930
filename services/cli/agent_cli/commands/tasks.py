"""agentctl task, tasks, status, cancel: tasks through POST/GET /api/task(s)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.text import Text

from agent_cli import plan, render
from agent_cli.client import ApiClient
from agent_cli.errors import CliError, Exit
from agent_cli.runtime import Runtime, json_option, pass_runtime
from agent_cli.target import Target

POLL_S = 0.5
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def default_title(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else "task"
    return first if len(first) <= 80 else first[:79] + "…"


@click.command()
@click.argument("description")
@click.option("--title", help="Defaults to the description's first line (80 characters at most).")
@click.option(
    "--wait", is_flag=True, help="Show each step's progress live until the task ends, then the result."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="With --wait: seconds to wait before giving up (exit 7; the task goes on).",
)
@json_option
@pass_runtime
def task(rt: Runtime, description: str, title: str | None, wait: bool, timeout: float) -> None:
    """Submit a task: a URL to summarize ("Summarize https://..."), several to compare, a
    question about a page ("What does https://... say about ...?"), or the text itself.

    \b
    --json: {"task_id", "status"}; with --wait, the finished task as `status --json` shows it.
    Exit code with --wait: 0 completed, 1 failed or cancelled, 7 still running at --timeout.
    """

    async def run(client: ApiClient, _target: Target) -> dict[str, Any]:
        body = {"title": title or default_title(description), "description": description}
        created = await client.call("POST", "/api/task", "submitting the task", json=body)
        if not wait:
            if rt.json:
                render.emit_json(created)
            else:
                render.out.print(f"task {created['task_id']} {created['status']}", markup=False)
                render.err.print(
                    f"follow it with: agentctl status {created['task_id']}", style="dim", markup=False
                )
            return created
        if not rt.json:
            render.err.print(f"task {created['task_id']} {created['status']}", markup=False)
        done = await _wait(client, created["task_id"], timeout, live=not rt.json)
        _show_task(rt, done)
        return done

    finished = rt.run(run)
    if wait:
        _exit_for(rt, finished, timeout)


async def _wait(client: ApiClient, task_id: str, timeout: float, *, live: bool) -> dict[str, Any]:
    """Poll the task until it ends or the timeout passes; its plan live meanwhile."""
    deadline = time.monotonic() + timeout
    spinner = itertools.cycle(SPINNER)
    started = time.monotonic()
    path = f"/api/tasks/{task_id}"
    current = await client.call("GET", path, "reading the task", wait_until=deadline)
    with Live(console=render.err, transient=True, auto_refresh=False, redirect_stdout=False) as display:
        while current["status"] not in render.TERMINAL and time.monotonic() < deadline:
            if live:
                elapsed = Text(f"  {time.monotonic() - started:.1f}s", style="dim")
                display.update(
                    Group(render.task_header(current) + elapsed, plan.plan_view(current, next(spinner))),
                    refresh=True,
                )
            await asyncio.sleep(POLL_S)
            current = await client.call("GET", path, "reading the task", wait_until=deadline + POLL_S * 4)
    return current


def _show_task(rt: Runtime, task: dict[str, Any]) -> None:
    if rt.json:
        render.emit_json(task)
    else:
        render.out.print(render.task_detail(task))


def _exit_for(rt: Runtime, task: dict[str, Any], timeout: float | None = None) -> None:
    status = task["status"]
    if status in ("failed", "cancelled"):
        raise SystemExit(int(Exit.TASK_FAILED))
    if timeout is not None and status not in render.TERMINAL:
        rt.fail(
            CliError(
                Exit.TIMEOUT,
                f"task {task['task_id']} is still {status} after {timeout:g} s",
                f"it goes on: `agentctl status {task['task_id']}` later, or "
                f"`agentctl cancel {task['task_id']}`",
            )
        )


@click.command()
@click.option(
    "--limit", type=click.IntRange(1, 200), default=None, help="At most N tasks (the API's default: 50)."
)
@json_option
@pass_runtime
def tasks(rt: Runtime, limit: int | None) -> None:
    """This session's tasks, newest first.

    \b
    --json: [task, ...], each as `status --json` shows it.
    """

    async def run(client: ApiClient, _target: Target) -> None:
        found = await client.call(
            "GET", "/api/tasks", "listing the tasks", params={"limit": limit} if limit else None
        )
        if rt.json:
            render.emit_json(found)
        elif not found:
            render.err.print('no tasks yet: agentctl task "Summarize https://..." submits one', markup=False)
        else:
            render.out.print(render.tasks_table(found))

    rt.run(run)


@click.command()
@click.argument("task_id")
@json_option
@pass_runtime
def status(rt: Runtime, task_id: str) -> None:
    """One task: its status, its plan (branches side by side; each step's status, attempts,
    time, error) and the result, or the answer with its sources.

    \b
    --json: {"task_id", "status", "title", "description", "result", "error",
             "steps": [{"type", "status", "error", "attempts", "started_at", "finished_at",
             "duration_ms"}], "created_at", "updated_at"}
    Exit code: 0 queued, processing or completed; 1 failed or cancelled.
    """

    async def run(client: ApiClient, _target: Target) -> dict[str, Any]:
        return await client.call("GET", f"/api/tasks/{task_id}", "reading the task")

    found = rt.run(run)
    _show_task(rt, found)
    _exit_for(rt, found)


@click.command()
@click.argument("task_id")
@json_option
@pass_runtime
def cancel(rt: Runtime, task_id: str) -> None:
    """Cancel a queued or running task: the steps not yet run never run.

    \b
    --json: the cancelled task, as `status --json` shows it.
    A task that has already finished cannot be cancelled (exit 2).
    """

    async def run(client: ApiClient, _target: Target) -> dict[str, Any]:
        return await client.call("POST", f"/api/tasks/{task_id}/cancel", "cancelling the task")

    cancelled = rt.run(run)
    if rt.json:
        render.emit_json(cancelled)
    else:
        line = Text.assemble(f"task {cancelled['task_id']} ", render.status_text(cancelled["status"]))
        render.out.print(line)
