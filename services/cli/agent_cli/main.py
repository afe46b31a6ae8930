"""The `agentctl` command: global options (target, --json) and the commands."""

from __future__ import annotations

import click

from agent_cli import __version__
from agent_cli.commands.chat import chat, history
from agent_cli.commands.health import health
from agent_cli.commands.load import load
from agent_cli.commands.tasks import cancel, status, task, tasks
from agent_cli.commands.tools import tools
from agent_cli.errors import EXIT_HELP
from agent_cli.runtime import Runtime
from agent_cli.target import DEFAULT_URL, TargetSpec

HELP = f"""agentctl: chat, tasks, load and health of agent-system, through its API gateway.

\b
Target (one of):
  --url URL                the gateway (default {DEFAULT_URL}, or AGENTCTL_URL)
  --kube-context CTX --namespace NS
                           a Kubernetes namespace: agentctl port-forwards to
                           api-gateway-service itself (needs agentctl[kube], no kubectl)

The session token is kept per target in the config directory (AGENTCTL_CONFIG_DIR,
default ~/.config/agentctl/sessions.json, mode 0600), created on first use and
renewed when the gateway no longer accepts it.

{EXIT_HELP}"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="AGENTCTL_URL", help="Gateway base URL (env AGENTCTL_URL).")
@click.option(
    "--kube-context", envvar="AGENTCTL_KUBE_CONTEXT", help="Kubernetes context (env AGENTCTL_KUBE_CONTEXT)."
)
@click.option(
    "--namespace",
    "-n",
    envvar="AGENTCTL_NAMESPACE",
    help="Kubernetes namespace (env AGENTCTL_NAMESPACE; agent-system-dev with --kube-context).",
)
@click.option("--json", "json_output", is_flag=True, help="Print JSON for scripts (every command).")
@click.version_option(__version__, prog_name="agentctl")
@click.pass_context
def cli(
    ctx: click.Context, url: str | None, kube_context: str | None, namespace: str | None, json_output: bool
) -> None:
    rt = ctx.ensure_object(Runtime)
    rt.spec = TargetSpec(url, kube_context, namespace)
    rt.json = rt.json or json_output


for command in (chat, history, task, tasks, status, cancel, tools, load, health):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="agentctl")
