"""The code checks of `make lint`, in the suite so CI runs them: ruff's lint and format, mypy
(strict on agent_common and the worker's steps, its defaults elsewhere), vulture, and the
pre-commit hooks that run the same tools before a commit. yamllint and actionlint have their
own tests (tests/manifests/test_lint.py, tests/ci/test_workflows.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ci.support import REPO, VENV_BIN

PY_SOURCES = ["services", "tests", "scripts", ".github/scripts"]
# a type: ignore names its error code, then says why on the same line
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$")
WITH_REASON = re.compile(r"^\[[a-z-]+(, *[a-z-]+)*\]\s+#\s*\S.{5,}")


def tool(name: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    path = VENV_BIN / name
    assert path.exists(), f"{name} is not installed: `make install` installs the dev extra"
    return subprocess.run([str(path), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return tool("mypy", "--cache-dir", str(REPO / ".mypy_cache"), *args)


def test_ruff_finds_nothing_to_fix() -> None:
    done = tool("ruff", "check", "--no-cache", *PY_SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_formatted_as_ruff_formats_it() -> None:
    done = tool("ruff", "format", "--check", "--no-cache", *PY_SOURCES)
    assert done.returncode == 0, "run `make fmt`:\n" + done.stdout + done.stderr


def test_mypy_finds_no_type_errors() -> None:
    done = mypy()
    assert done.returncode == 0, done.stdout + done.stderr
    checked = re.search(r"in (\d+) source files", done.stdout)
    assert checked and int(checked[1]) >= 150, done.stdout  # every service, the CLI, the scripts


UNTYPED = "def twice(x):\n    return x * 2\n"


@pytest.mark.parametrize(
    ("module", "strict"),
    [
        ("services/common/agent_common/urls.py", True),
        ("services/worker/agent_worker/steps/summarize.py", True),
        ("services/worker/agent_worker/links.py", False),
        ("services/gateway/agent_gateway/errors.py", False),
    ],
)
def test_mypy_is_strict_on_the_shared_package_and_the_step_contract(
    tmp_path: Path, module: str, strict: bool
) -> None:
    """An unannotated function is an error in agent_common and the worker's steps, and
    allowed elsewhere (mypy's defaults)."""
    shadow = tmp_path / "shadow.py"
    shadow.write_text(UNTYPED)
    done = mypy("--shadow-file", module, str(shadow), module)
    flagged = "[no-untyped-def]" in done.stdout
    assert flagged == strict, done.stdout + done.stderr
    assert (done.returncode != 0) == strict


def test_every_type_ignore_names_its_error_and_says_why() -> None:
    bare = []
    for path in sorted(REPO.glob("services/**/*.py")) + sorted(REPO.glob("scripts/*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = IGNORE.search(line)
            if found and not WITH_REASON.match(found["rest"].strip()):
                bare.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not bare, "a `# type: ignore[code]  # why` on each:\n" + "\n".join(bare)


def test_vulture_finds_no_dead_code() -> None:
    done = tool("vulture")
    assert done.returncode == 0, done.stdout + done.stderr


def test_vulture_would_see_dead_code(tmp_path: Path) -> None:
    (tmp_path / "dead.py").write_text(
        "def used() -> int:\n    return 1\n\n\ndef unused() -> int:\n    return 2\n\n\nprint(used())\n"
    )
    done = tool("vulture", "--min-confidence", "60", str(tmp_path / "dead.py"))
    assert done.returncode != 0 and "unused function 'unused'" in done.stdout


def test_the_pre_commit_hooks_run_the_lint_tools_from_the_lock() -> None:
    """The hooks are valid, cover ruff (lint and format), mypy, yamllint and actionlint, and
    each runs a tool that `make install` put in .venv (nothing downloaded at commit time)."""
    config = REPO / ".pre-commit-config.yaml"
    done = tool("pre-commit", "validate-config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    (repo,) = yaml.safe_load(config.read_text())["repos"]
    assert repo["repo"] == "local"
    hooks = {h["id"]: h for h in repo["hooks"]}
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy", "yamllint", "actionlint"}
    for hook in hooks.values():
        assert hook["language"] == "system"
        executables = [w for w in hook["entry"].split() if w.startswith(".venv/bin/")]
        assert executables, hook
        for executable in executables:
            assert (REPO / executable).exists() or (VENV_BIN / Path(executable).name).exists(), executable
    assert hooks["mypy"]["pass_filenames"] is False


def test_make_lint_and_fmt_run_the_same_tools() -> None:
    makefile = (REPO / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    fmt = makefile.split("\nfmt:", 1)[1].split("\n\n", 1)[0]
    for command in ("ruff check", "ruff format --check", "mypy", "vulture", "yamllint", "jactionlint"):
        assert command in lint, command
    assert "ruff check --fix" in fmt and "ruff format $(PY_SOURCES)" in fmt
