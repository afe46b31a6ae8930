"""Tools that get a virtual environment of their own, because their pins would downgrade
the shared one: made once from PyPI in the test cache folder, then reused."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from tests.shared_data import CACHE


def tool_python(name: str, requirements: list[str]) -> Path:
    """The Python of the environment `name` holding `requirements`. RuntimeError, with pip's
    output, when it cannot be made."""
    venv = CACHE / "tools" / name
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if done.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            for step in ([sys.executable, "-m", "venv", str(venv)],
                         [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          *requirements]):
                proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    raise RuntimeError(f"could not make {venv}:\n{proc.stderr[-3000:]}")
            done.touch()
    return python
