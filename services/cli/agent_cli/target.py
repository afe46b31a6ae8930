"""Where the gateway is: a URL, or a Kubernetes namespace reached through a port-forward."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agent_cli.errors import CliError, Exit

DEFAULT_URL = "http://localhost:8080"
DEFAULT_NAMESPACE = "agent-system-dev"
GATEWAY_SERVICE = "api-gateway-service"
GATEWAY_PORT = 8080


@dataclass
class TargetSpec:
    """What the options asked for (nothing opened yet)."""

    url: str | None = None
    kube_context: str | None = None
    namespace: str | None = None

    @property
    def is_kube(self) -> bool:
        return bool(self.kube_context or self.namespace)

    @property
    def key(self) -> str:
        """The session store's key: stable across runs (a port-forward's local port is not)."""
        if self.is_kube:
            return f"kube:{self.kube_context or '<current>'}/{self.namespace or DEFAULT_NAMESPACE}"
        return (self.url or DEFAULT_URL).rstrip("/")


@dataclass
class Target:
    base_url: str
    key: str
    label: str  # for messages
    unreachable_hint: str


@contextmanager
def open_target(spec: TargetSpec) -> Iterator[Target]:
    if spec.is_kube and spec.url:
        raise CliError(
            Exit.USAGE, "--url and --kube-context/--namespace name two different targets", "pass one of them"
        )
    if not spec.is_kube:
        url = (spec.url or DEFAULT_URL).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CliError(Exit.USAGE, f"--url must start with http:// or https:// (got {url!r})")
        yield Target(
            url,
            spec.key,
            url,
            f"is the gateway running at {url}? `make run` starts it on "
            f"{DEFAULT_URL}; elsewhere, pass --url or set AGENTCTL_URL",
        )
        return
    yield from _kube_target(spec)


def _kube_target(spec: TargetSpec) -> Iterator[Target]:
    from agent_cli.portforward import PortForward

    namespace = spec.namespace or DEFAULT_NAMESPACE
    forward = PortForward(namespace, GATEWAY_SERVICE, GATEWAY_PORT, spec.kube_context)
    base_url = forward.start()
    try:
        yield Target(
            base_url,
            spec.key,
            f"{forward.describe()} via {base_url}",
            f"the port-forward to {forward.describe()} failed; "
            f"kubectl -n {namespace} get pods shows whether the gateway is running",
        )
    finally:
        forward.close()
