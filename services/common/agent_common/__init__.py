"""Code shared by the agent-system services."""
