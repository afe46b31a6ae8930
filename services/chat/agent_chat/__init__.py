"""The chat service: answers messages with the configured LLM, streams, starts tasks."""

import agent_common  # noqa: F401 - first, before redis: see agent_common/__init__.py
