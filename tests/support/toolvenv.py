"""Tools that get a virtual environment of their own, because their pins would downgrade
the shared one: made once in the test cache folder from their own lock
(requirements/<name>.txt, hashed, written by `make lock` from requirements/<name>.in), then
reused until that lock changes."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tests.shared_data import CACHE

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"


def tool_python(name: str) -> Path:
    """The Python of the environment holding requirements/<name>.txt. RuntimeError, with pip's
    output, when it cannot be made."""
    lock = REQUIREMENTS / f"{name}.txt"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    venv = CACHE / "tools" / f"{name}-{digest}"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if done.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{name}.lock", "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)  # one installer at a time
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            pip = [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--require-hashes",
                "--no-deps",
            ]
            for step in (
                [sys.executable, "-m", "venv", str(venv)],
                [*pip, "-r", str(REQUIREMENTS / "build.txt")],
                [*pip, "-r", str(lock)],
                [str(python), "-m", "pip", "check"],
            ):
                proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    raise RuntimeError(f"could not make {venv}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
            done.touch()
    return python
