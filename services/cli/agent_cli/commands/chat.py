"""agentctl chat MESSAGE (the answer streams as it is written) and agentctl history."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.text import Text

from agent_cli import render
from agent_cli.client import ApiClient
from agent_cli.errors import CliError, Exit
from agent_cli.runtime import Runtime, json_option, pass_runtime
from agent_cli.target import Target


@click.command()
@click.argument("message")
@json_option
@pass_runtime
def chat(rt: Runtime, message: str) -> None:
    """Send MESSAGE ("-" reads it from standard input); the answer streams as it comes.

    \b
    --json prints the final answer: {"response", "chat_id", "model", "usage", "cost_usd",
    "tasks_started"}.
    """
    text = sys.stdin.read() if message == "-" else message
    if not text.strip():
        rt.fail(CliError(Exit.USAGE, "the message is empty"))

    async def run(client: ApiClient, _target: Target) -> None:
        done = await _stream(client, text, show=not rt.json)
        if rt.json:
            render.emit_json(done)

    rt.run(run)


async def _stream(client: ApiClient, text: str, *, show: bool) -> dict[str, Any]:
    done: dict[str, Any] | None = None
    async for event, data in client.chat_stream(text):
        if event == "delta" and show:
            sys.stdout.write(str(data.get("text", "")))
            sys.stdout.flush()
        elif event == "tool" and show:
            render.err.print(Text(f"\n[{_tool_line(data)}]", style="dim"))
        elif event == "error":
            raise _stream_error(data)
        elif event == "done":
            done = data
    if done is None:
        raise CliError(
            Exit.SERVER_ERROR,
            "the answer stopped before it was finished (no done event)",
            "try again; `agentctl health` shows whether the chat service is up",
        )
    if show:
        sys.stdout.write("\n")
        render.err.print(Text(_usage_line(done), style="dim"))
    return done


def _tool_line(data: dict[str, Any]) -> str:
    parts = [f"tool {data.get('name')}", "ok" if data.get("ok") else f"failed: {data.get('error')}"]
    if data.get("task_id"):
        parts.append(f"task {data['task_id']} {data.get('status', '')}".strip())
    return " · ".join(parts)


def _usage_line(done: dict[str, Any]) -> str:
    usage = done.get("usage") or {}
    tokens = f"{usage.get('prompt_tokens', 0)} + {usage.get('completion_tokens', 0)} tokens"
    line = f"{done.get('model')} · {tokens}"
    if done.get("cost_usd") is not None:
        line += f" · ${done['cost_usd']:.6f}"
    return line


def _stream_error(data: dict[str, Any]) -> CliError:
    status = int(data.get("status") or 502)
    code = Exit.RATE_LIMITED if status == 429 else Exit.SERVER_ERROR
    return CliError(
        code,
        f"the model failed mid-answer ({status}): {data.get('detail')}",
        "the chat service's LLM settings decide the model (services/chat/README.md)",
        status=status,
    )


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=None, help="The latest N messages.")
@json_option
@pass_runtime
def history(rt: Runtime, limit: int | None) -> None:
    """This session's conversation, oldest first.

    \b
    --json: [{"role", "content", "created_at"}, ...]
    """

    async def run(client: ApiClient, _target: Target) -> None:
        await client.ensure_session()  # the path holds the session's user id
        params = {"limit": limit} if limit else None
        messages = await client.call(
            "GET", lambda: f"/api/chat/history/{client.user_id}", "reading the history", params=params
        )
        if rt.json:
            render.emit_json(messages)
            return
        if not messages:
            render.err.print('no messages yet: `agentctl chat "hello"` starts the conversation')
        for message in messages:
            who = "you" if message["role"] == "user" else message["role"]
            stamp = "  " + render.when(message.get("created_at"))
            render.out.print(Text.assemble((who, "bold"), (stamp, "dim")))
            render.out.print(Text(message["content"]))
            render.out.print()

    rt.run(run)
