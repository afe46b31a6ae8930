"""The API gateway (port 8080): sessions, per-session rate limits and a streaming reverse
proxy in front of the chat service and the orchestrator."""

import agent_common  # noqa: F401 - first, before redis: see agent_common/__init__.py
