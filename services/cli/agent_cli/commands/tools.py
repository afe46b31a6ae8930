"""agentctl tools: the tools a plan may use (GET /api/tools), as the planners see them."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from agent_cli import render
from agent_cli.client import ApiClient
from agent_cli.runtime import Runtime, json_option, pass_runtime
from agent_cli.target import Target


def parameters(schema: dict[str, Any]) -> str:
    """'question*: string' for each parameter; * marks the required ones."""
    required = set(schema.get("required") or [])
    found = []
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type", "any") if isinstance(spec, dict) else "any"
        found.append(f"{name}{'*' if name in required else ''}: {kind}")
    return ", ".join(found) or "none"


def inputs(tool: dict[str, Any]) -> str:
    """What it reads from the steps it depends on: 'text, 2 or more'."""
    spec = tool.get("inputs") or {}
    takes = ", ".join(spec.get("takes") or [])
    if not takes:
        return "none"
    low, high = spec.get("min") or 0, spec.get("max")
    if high is None:
        count = f"{low} or more" if low else "any number"
    else:
        count = f"{low}" if low == high else f"{low} to {high}"
    return f"{takes} ({count})"


def tools_table(tools: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("TOOL", "DESCRIPTION", "PARAMETERS", "READS", "GIVES"):
        table.add_column(name, overflow="fold")
    for tool in tools:
        table.add_row(
            Text(tool["name"], style="bold"),
            Text(tool.get("description") or ""),
            Text(parameters(tool.get("parameters") or {})),
            Text(inputs(tool)),
            Text(str((tool.get("output") or {}).get("kind") or "")),
        )
    return table


@click.command()
@json_option
@pass_runtime
def tools(rt: Runtime) -> None:
    """The tools a task's plan may use: what each does, its parameters (* required), what it
    reads from the steps it depends on and what it gives.

    \b
    --json: [{"name", "description", "parameters": <JSON Schema>, "inputs", "output"}]
    """

    async def run(client: ApiClient, _target: Target) -> list[dict[str, Any]]:
        return await client.call("GET", "/api/tools", "listing the tools")

    found = rt.run(run)
    if rt.json:
        render.emit_json(found)
    else:
        render.out.print(tools_table(found))
