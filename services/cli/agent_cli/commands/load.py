"""agentctl load: many tasks at once, a live count of where they are, then the figures."""

from __future__ import annotations

from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from agent_cli import render
from agent_cli.client import ApiClient
from agent_cli.errors import CliError, Exit
from agent_cli.load import LoadRun, Plan
from agent_cli.load import Progress as Counts
from agent_cli.runtime import Runtime, json_option, pass_runtime
from agent_cli.target import Target


@click.command()
@click.option(
    "--tasks",
    "count",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="How many tasks to submit.",
)
@click.option(
    "--url", "page", required=True, help="The page each task summarizes (a URL the workers may fetch)."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 200),
    default=20,
    show_default=True,
    help="Submissions in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Seconds for the whole run; tasks unfinished then are cancelled (exit 7).",
)
@json_option
@pass_runtime
def load(rt: Runtime, count: int, page: str, concurrency: int, timeout: float) -> None:
    """Submit N tasks that summarize --url, follow them, then print throughput and latency.

    \b
    Tasks run as throw-away anonymous users (one per 200 tasks), polled with one
    GET /api/tasks per user. Latency is each task's created_at to its last update (server
    clocks); throughput is completed tasks over the span from the first created_at to the
    last completion.
    --json: {"tasks", "submitted", "rejected", "unsent", "completed", "failed", "cancelled",
             "unfinished", "timed_out", "throughput_per_s", "latency_s": {"p50", "p90", "p99",
             "max"}, "submit_latency_ms": {...}, "rate_limited_retries", "errors", ...}
    Exit code: 0 all completed, 1 some failed or were refused, 7 not all done in --timeout.
    """
    if not page.startswith(("http://", "https://")):
        rt.fail(
            CliError(Exit.USAGE, f"--url must be an http(s) address of a page to summarize (got {page!r})")
        )
    plan = Plan(count, page, concurrency, timeout)

    async def run(client: ApiClient, target: Target) -> dict[str, Any]:
        with _progress(enabled=not rt.json) as bar:
            row = bar.add_task("load", total=count, counts="")
            loader = LoadRun(
                target.base_url,
                plan,
                unreachable_hint=client.unreachable_hint,
                on_progress=lambda p: bar.update(row, completed=p.finished, counts=_counts(p)),
            )
            return await loader.run()

    report = rt.run(run)
    if rt.json:
        render.emit_json(report)
    else:
        render.out.print(_figures(report))
    _exit(rt, report)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=render.err,
        disable=not enabled,
        transient=False,
    )


def _counts(p: Counts) -> str:
    sent = f"submitted {p.submitted}/{p.total} · " if p.submitted + p.rejected < p.total else ""
    failed = p.counts["failed"] + p.counts["cancelled"] + p.rejected
    return (
        f"{sent}[yellow]queued {p.counts['queued']}[/] · [cyan]processing {p.counts['processing']}[/] · "
        f"[green]completed {p.counts['completed']}[/] · [red]failed {failed}[/]"
    )


def _figures(r: dict[str, Any]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    lat, sub = r["latency_s"], r["submit_latency_ms"]
    rows = [
        (
            "tasks",
            f"{r['completed']} completed, {r['failed']} failed, {r['cancelled']} cancelled, "
            f"{r['unfinished']} unfinished, {r['rejected']} refused of {r['tasks']}",
        ),
        (
            "throughput",
            f"{r['throughput_per_s']} tasks/s over {r['span_s']} s"
            if r["throughput_per_s"] is not None
            else "n/a (nothing completed)",
        ),
        ("latency", _pcts(lat, "s") + "  (queued to done, server clock)"),
        (
            "submit",
            _pcts(sub, "ms") + f"  ({r['submitted']} in {r['submit_s']} s, concurrency {r['concurrency']})",
        ),
        ("wall time", f"{r['wall_s']} s, {r['users']} user(s), {r['rate_limited_retries']} rate-limit waits"),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    for error in r["errors"]:
        table.add_row("error", Text(f"{error['count']} × {error['message']}", style="red"))
    return table


def _pcts(figures: dict[str, float | None], unit: str) -> str:
    return "  ".join(f"{k} {v}{unit}" if v is not None else f"{k} n/a" for k, v in figures.items())


def _exit(rt: Runtime, r: dict[str, Any]) -> None:
    if r["timed_out"]:
        rt.fail(
            CliError(
                Exit.TIMEOUT,
                f"not every task finished within the timeout ({r['unfinished']} "
                f"unfinished, {r['unsent']} not sent; {r['cancelled_at_timeout']} cancelled)",
                "more workers (WORKERS=4 make run; KEDA on Kubernetes), fewer --tasks, or a longer --timeout",
            )
        )
    if r["failed"] or r["cancelled"] or r["rejected"]:
        raise SystemExit(int(Exit.TASK_FAILED))
