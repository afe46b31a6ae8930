"""A task's plan in text, as the page draws it: branches that run in parallel side by side,
the steps that join them below, each step with its status and time; and an answer with its
sources. Text from pages and models is always Rich Text, never parsed as markup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "queued": "yellow",
    "processing": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "skipped": "dim",
}
MARK = {"queued": "·", "processing": "▸", "completed": "✓", "failed": "✗", "cancelled": "⊘", "skipped": "⊘"}


@dataclass(eq=False)  # compared and hashed by identity
class Segment:
    """A chain of steps: a first step or a join, then each step that alone reads the one before."""

    steps: list[dict[str, Any]]
    after: list[Segment] = field(default_factory=list)
    row: int = 0
    number: int = 0


def topological(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dependencies first, otherwise the API's order; a step naming an unknown id is a root."""
    ids = {s.get("id") for s in steps}
    done: set[object] = set()
    out: list[dict[str, Any]] = []
    left = list(steps)
    while left:
        ready = [s for s in left if all(d in done or d not in ids for d in s.get("depends_on") or [])]
        for step in ready or left[:1]:  # a cycle cannot stop the display
            done.add(step.get("id"))
            out.append(step)
        left = [s for s in left if s.get("id") not in done]
    return out


def layout(steps: list[dict[str, Any]]) -> list[list[Segment]]:
    """The plan's segments in rows: a segment sits one row below the lowest it reads."""
    ordered = topological(steps)
    readers: dict[str, int] = {}
    for step in ordered:
        for dep in step.get("depends_on") or []:
            readers[dep] = readers.get(dep, 0) + 1
    segment_of: dict[str, Segment] = {}
    segments: list[Segment] = []
    for step in ordered:
        deps = [d for d in step.get("depends_on") or [] if d in segment_of]
        before = segment_of[deps[0]] if len(deps) == 1 else None
        if before and readers.get(deps[0]) == 1 and before.steps[-1].get("id") == deps[0]:
            before.steps.append(step)
            segment_of[step["id"]] = before
            continue
        after = list(dict.fromkeys(segment_of[d] for d in deps))
        segment = Segment([step], after, 1 + max(s.row for s in after) if after else 0)
        segments.append(segment)
        segment_of[step.get("id", "")] = segment
    rows: list[list[Segment]] = [[] for _ in range(max((s.row for s in segments), default=-1) + 1)]
    for segment in segments:
        rows[segment.row].append(segment)
    number = 0
    for row in rows:
        for segment in row:
            number += 1
            segment.number = number
    return [row for row in rows if row]


def names(segments: list[Segment]) -> str:
    numbers = sorted(s.number for s in segments)
    if len(numbers) == 1:
        return f"branch {numbers[0]}"
    return "branches " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def seconds(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f}s"


def target(step: dict[str, Any]) -> str:
    params = step.get("params") or {}
    url = params.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        return f"{parts.netloc}{parts.path if parts.path != '/' else ''}" or url
    question = params.get("question")
    if isinstance(question, str):
        return f"“{question if len(question) <= 60 else question[:59] + '…'}”"
    return ""


def step_lines(step: dict[str, Any], spinner: str = "") -> Text:
    status = str(step.get("status", ""))
    style = STATUS_STYLE.get(status, "")
    line = Text.assemble(
        (f"{MARK.get(status, '?')} ", style), (step.get("type", ""), "bold"), "  ", (status, style)
    )
    if status == "processing" and spinner:
        line.append(f" {spinner}")
    if step.get("duration_ms") is not None:
        line.append(f"  {seconds(step['duration_ms'])}", style="dim")
    if step.get("optional"):
        line.append("  optional", style="dim")
    if (step.get("attempts") or 0) > 1:
        line.append(f"  {step['attempts']} attempts", style="dim")
    if target(step):
        line.append("\n  ")
        line.append(target(step), style="dim")
    if step.get("error"):
        line.append("\n  ")
        line.append(str(step["error"]), style="red")
    return line


def plan_source(task: dict[str, Any]) -> Text | None:
    if task.get("plan_source") == "llm":
        plan = task.get("plan") or {}
        parts = [f"model {plan.get('model') or ''}".strip()]
        tokens = (plan.get("prompt_tokens") or 0) + (plan.get("completion_tokens") or 0)
        if tokens:
            parts.append(f"{tokens:,} tokens")
        if plan.get("cost_usd") is not None:
            parts.append(f"${float(plan['cost_usd']):.4f}")
        if plan.get("latency_ms") is not None:
            parts.append(f"{plan['latency_ms']} ms")
        if plan.get("replanned_steps"):
            parts.append(f"{plan['replanned_steps']} steps added after the branches")
        source = Text("planned by " + " · ".join(parts), style="dim")
    elif task.get("plan_source") == "rules":
        source = Text("planned by the rules", style="dim")
    else:
        return None
    if task.get("plan_note"):
        source.append("\nnote: ", style="yellow")
        source.append(str(task["plan_note"]))
    return source


def plan_view(task: dict[str, Any], spinner: str = "") -> RenderableType:
    """Rows of branches, side by side; a join row says which branches it reads."""
    parts: list[RenderableType] = []
    source = plan_source(task)
    if source is not None:
        parts.append(source)
    rows = layout(task.get("steps") or [])
    single = len(rows) == 1 and len(rows[0]) == 1
    for row in rows:
        joins = [s for s in row if s.after]
        if joins:
            parts.append(
                Text(
                    "↓ " + "; ".join(f"{_title(s, single)} reads {names(s.after)}" for s in joins),
                    style="dim",
                )
            )
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in row:
            grid.add_column(ratio=1, overflow="fold")
        grid.add_row(
            *[
                Panel(
                    Group(*[step_lines(step, spinner) for step in segment.steps]),
                    title=_title(segment, single),
                    title_align="left",
                    border_style="dim",
                )
                for segment in row
            ]
        )
        parts.append(grid)
    return Group(*parts)


def _title(segment: Segment, single: bool) -> str:
    if single:
        return "steps"
    return f"step {segment.number}" if len(segment.after) > 1 else f"branch {segment.number}"


def answer_output(task: dict[str, Any]) -> dict[str, Any] | None:
    """The final answer step's output, when the task ends in one that completed."""
    steps = task.get("steps") or []
    read = {d for s in steps for d in s.get("depends_on") or []}
    finals = [s for s in steps if s.get("id") not in read]
    last = finals[-1] if finals else {}
    if last.get("type") != "answer" or last.get("status") != "completed":
        return None
    output = last.get("output")
    if not isinstance(output, dict) or not isinstance(output.get("citations"), list):
        return None
    return output if isinstance(output.get("answer"), str) else None


def answer_view(output: dict[str, Any]) -> Group:
    parts: list[RenderableType] = [Text("answer:", style="bold"), Text(output["answer"])]
    citations = [c for c in output["citations"] if isinstance(c, dict)]
    if citations:
        parts.append(Text("sources:", style="bold"))
    for n, citation in enumerate(citations, 1):
        url = str(citation.get("url") or "")
        line = Text.assemble(f"[{n}] ", ("“" + str(citation.get("quote") or "") + "”", "italic"))
        if url:
            line.append("\n    ")
            # a terminal that knows OSC 8 makes it a link
            line.append(url, style=f"link {url}" if url.startswith(("http://", "https://")) else "")
        parts.append(line)
    return Group(*parts)
