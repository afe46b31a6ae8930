"""What every command shares: the target options, --json, and running a command's
coroutine against an open target with a client, turning CliErrors into exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import click

from agent_cli import render
from agent_cli.client import ApiClient
from agent_cli.errors import CliError
from agent_cli.sessions import StoredSessionSource
from agent_cli.target import Target, TargetSpec, open_target

T = TypeVar("T")


@dataclass
class Runtime:
    spec: TargetSpec = field(default_factory=TargetSpec)
    json: bool = False

    def run(self, command: Callable[[ApiClient, Target], Awaitable[T]]) -> T:
        """Open the target, make a client with the target's stored session, run the command."""
        try:
            with open_target(self.spec) as target:
                return asyncio.run(self._with_client(command, target))
        except CliError as exc:
            self.fail(exc)
        except KeyboardInterrupt:
            render.err.print("interrupted", style="yellow")
            sys.exit(130)

    async def _with_client(self, command: Callable[[ApiClient, Target], Awaitable[T]], target: Target) -> T:
        sessions = StoredSessionSource(target.key, on_renew=self._renewed)
        async with ApiClient(target.base_url, sessions, unreachable_hint=target.unreachable_hint) as client:
            return await command(client, target)

    def _renewed(self, key: str) -> None:
        render.err.print(
            f"note: the session for {key} had expired or was revoked; started a new one (a new "
            "anonymous user: tasks and chats of the old session are not visible to it)",
            style="yellow",
            markup=False,
        )

    def fail(self, exc: CliError) -> NoReturn:
        """Report on stderr (JSON with --json) and exit with the error's code."""
        if self.json:
            sys.stderr.write(json.dumps(exc.as_json()) + "\n")
        else:
            render.err.print(f"error: {exc.message}", style="bold red", markup=False)
            if exc.hint:
                render.err.print(f"hint: {exc.hint}", markup=False)
        sys.exit(int(exc.code))


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--json on a subcommand too (agentctl tasks --json), same as agentctl --json tasks."""

    def set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.ensure_object(Runtime).json = True
        return value

    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=set_json,
        help="Print JSON for scripts (shapes: services/cli/README.md).",
    )(command)


pass_runtime = click.make_pass_decorator(Runtime, ensure=True)
