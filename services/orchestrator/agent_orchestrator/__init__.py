"""The orchestrator: accepts tasks, plans their steps, and tracks them to the end."""

import agent_common  # noqa: F401 - first, before redis: see agent_common/__init__.py
