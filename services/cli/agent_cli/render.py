"""Output: JSON for scripts on stdout, Rich tables and panels for people. Text that comes
from people or models is always rendered as Text (never parsed as Rich markup)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from agent_cli import plan

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STATUS_STYLE = plan.STATUS_STYLE
TERMINAL = ("completed", "failed", "cancelled")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def when(iso: str | None) -> str:
    """'2026-11-28 14:03:05' in local time from the API's ISO timestamps."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def short_when(iso: str | None) -> str:
    """HH:MM:SS today, the date before that."""
    full = when(iso)
    today = datetime.now().strftime("%Y-%m-%d")
    return full[11:] if full.startswith(today) else full[:10]


def seconds(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f}s"


def steps_summary(task: dict[str, Any]) -> str:
    steps = task.get("steps") or []
    done = sum(1 for s in steps if s.get("status") == "completed")
    return f"{done}/{len(steps)}"


def tasks_table(tasks: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    # the id must stay whole (status/cancel take it); the title gives way
    for name, width in (("ID", 36), ("STATUS", 10), ("STEPS", 5), ("CREATED", 8)):
        table.add_column(name, no_wrap=True, min_width=width)
    # Rich shrinks every column of a too-wide table alike: cap the title instead
    table.add_column("TITLE", no_wrap=True, overflow="ellipsis", max_width=max(10, out.width - 69))
    for task in tasks:
        table.add_row(
            str(task["task_id"]),
            status_text(task["status"]),
            steps_summary(task),
            short_when(task.get("created_at")),
            Text(task.get("title") or ""),
        )
    return table


def task_header(task: dict[str, Any]) -> Text:
    header = Text.assemble(
        ("task ", "bold"), (str(task["task_id"]), "bold"), "  ", status_text(task["status"]), "  "
    )
    header.append(Text(task.get("title") or "", style="italic"))
    return header


def task_detail(task: dict[str, Any]) -> Group:
    """The task, its plan as a graph (branches side by side), and its result or answer."""
    parts: list[Any] = [
        task_header(task),
        Text(f"created {when(task.get('created_at'))}, updated {when(task.get('updated_at'))}", style="dim"),
        plan.plan_view(task),
    ]
    if task.get("error"):
        parts.append(Text.assemble(("error: ", "bold red"), Text(task["error"])))
    answer = plan.answer_output(task)
    if answer is not None:
        parts.append(plan.answer_view(answer))
    elif task.get("result"):
        parts += [Text("result:", style="bold"), Text(task["result"])]
    return Group(*parts)
