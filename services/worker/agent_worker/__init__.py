"""The worker: claims task steps from the Redis stream, runs them, records them in PostgreSQL."""

import agent_common  # noqa: F401 - first, before redis: see agent_common/__init__.py
