"""Where a test stack keeps its data."""

from __future__ import annotations

import tempfile
from pathlib import Path


def stack_dir() -> Path:
    """A fresh folder outside pytest's private temp root: as root, PostgreSQL runs as
    another user that must reach its data folder (and a concurrent pytest session resets
    /tmp/pytest-of-<user> to mode 700)."""
    return Path(tempfile.mkdtemp(prefix="agent-test-"))
