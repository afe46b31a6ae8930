"""agentctl health: each service's readiness as the gateway sees it, and the task queue."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from agent_cli import render
from agent_cli.client import ApiClient
from agent_cli.errors import CliError, Exit
from agent_cli.runtime import Runtime, json_option, pass_runtime
from agent_cli.target import Target


@click.command()
@json_option
@pass_runtime
def health(rt: Runtime) -> None:
    """Readiness of the gateway and the services behind it, and the task queue's backlog.

    \b
    --json: {"ok", "target", "gateway": {"url", "ready", "latency_ms"},
             "upstreams": {name: {"url"?, "ready", "status"?, "checks"?, "error"?}},
    (each upstream's internal URL only where the gateway's UPSTREAMS_REPORT_URLS is on)
             "queue": {"stream", "group", "length", "pending", "lag", "consumers", ...}}
    Exit code: 0 all ready, 6 something is not ready.
    """

    async def run(client: ApiClient, target: Target) -> dict[str, Any]:
        started = time.monotonic()
        report = await client.call("GET", "/api/upstreams", "reading the upstreams report")
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        gateway = {"url": target.base_url, "ready": True, "latency_ms": latency_ms}
        ok = all(u.get("ready") for u in report["upstreams"].values()) and "error" not in report["queue"]
        labels.append(target.label)
        return {"ok": ok, "target": target.key, "gateway": gateway, **report}

    labels: list[str] = []
    report = rt.run(run)
    if rt.json:
        render.emit_json(report)
    else:
        render.out.print(_services_table(report, labels[0]))
        render.out.print(_queue_line(report["queue"]))
    if not report["ok"]:
        rt.fail(
            CliError(
                Exit.SERVER_ERROR,
                "not every service is ready",
                "the service's own log says why; its /ready lists the failing check",
            )
        )


def _services_table(report: dict[str, Any], label: str) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("SERVICE", "READY", "DETAIL"):
        table.add_column(name)
    gw = report["gateway"]
    table.add_row("gateway", _ready(True), f"{label} ({gw['latency_ms']} ms)")
    for name, up in sorted(report["upstreams"].items()):
        table.add_row(name, _ready(bool(up.get("ready"))), _detail(up))
    return table


def _ready(ok: bool) -> Text:
    return Text("ready", style="green") if ok else Text("NOT READY", style="bold red")


def _detail(up: dict[str, Any]) -> Text:
    where = f"{up['url']} " if up.get("url") else ""
    if up.get("error"):
        return Text(f"{where}{up['error']}")
    checks = up.get("checks") or {}
    failing = [f"{name} ({value})" for name, value in checks.items() if value not in ("ok", True)]
    suffix = f" failing: {', '.join(failing)}" if failing else ""
    return Text(f"{where}(HTTP {up.get('status')}){suffix}")


def _queue_line(queue: dict[str, Any]) -> Text:
    if "error" in queue:
        return Text(f"queue {queue.get('stream')}: {queue['error']}", style="red")
    # a consumer stays in the group after its worker exits: this counts every worker since
    # the group was made, not the live ones
    return Text.assemble(
        ("queue ", "bold"),
        f"{queue.get('stream')}: length {queue.get('length')}, ",
        f"pending {queue.get('pending')}, lag {_na(queue.get('lag'))}, ",
        f"consumers {queue.get('consumers')} ",
        (f"(group {queue.get('group')}, exited workers included)", "dim"),
    )


def _na(value: object) -> str:
    return "n/a" if value is None else str(value)  # e.g. Redis before 7 does not report lag
