"""agentctl: the command-line client of agent-system. It talks only to the gateway's
public API (/api/...), against a URL or a Kubernetes namespace through a port-forward."""

__version__ = "0.1.0"
