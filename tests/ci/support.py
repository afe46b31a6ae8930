"""Shared by the tests/ci suites: the repository's workflows, scripts and lock as files."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
SCRIPTS = REPO / ".github" / "scripts"
VENV_BIN = Path(sys.executable).parent


def workflow_files() -> list[Path]:
    return sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yaml", ".yml"))


def workflow(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as True
        doc["on"] = doc.pop(True)
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def load_script(path: Path) -> ModuleType:
    """A script of .github/scripts or scripts/ as a module (they are not packages)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(
    args: list[str], cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def image_services() -> list[str]:
    """The services with an image (services/<name>/Dockerfile)."""
    return sorted(p.parent.name for p in (REPO / "services").glob("*/Dockerfile"))


PINNED = re.compile(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(.*?))?\s*((?:--hash=\S+\s*)*)")


def requirement_pins(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (version, marker, hashes) of a hashed requirements file."""
    pins: dict[str, tuple[str, str, list[str]]] = {}
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = PINNED.fullmatch(line)
        assert match, f"not a pinned, hashed requirement: {line!r}"
        name, _, version, marker, hashes = match.groups()
        pins[re.sub(r"[-_.]+", "-", name).lower()] = (version, marker or "", hashes.split())
    return pins


# a committer for the git repositories the tests make, with no system or user config read
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV, "HOME": str(cwd.parent)},
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()
