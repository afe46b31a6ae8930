"""The web page: static files with strict security headers, and an /api proxy for local runs."""

import agent_common  # noqa: F401 - first, before redis: see agent_common/__init__.py
