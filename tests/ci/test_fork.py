"""Step 0 (`make fork`, scripts/make_it_yours.py) on a throwaway copy of this repository whose
origin is a local bare repository standing in for the fork on GitHub: afterwards no file names
the old account, the overlays pull the fork's images, the release tag is on the remote, and a
second run changes nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci.support import GIT_ENV, REPO, git, run

FORK_URL = "https://github.com/Tester-1/my-agents.git"


def current_names() -> tuple[str, str, str]:
    """(owner, repository, image owner) that this checkout names: OWNER upstream."""
    root = (REPO / "apps" / "root.yaml").read_text()
    url = re.search(r"repoURL:\s*https://github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?\s*$", root, re.M)
    owner, repo = url.groups()
    dev = (REPO / "overlays" / "dev" / "kustomization.yaml").read_text()
    return owner, repo, re.search(r"newName:\s*ghcr\.io/([^/\s]+)/agent-system-", dev).group(1)


@pytest.fixture()
def fork(tmp_path: Path) -> tuple[Path, Path]:
    """A clone of the tracked files (as they are in the work tree) whose origin URL is the
    fork's GitHub URL, rewritten by git to a local bare repository."""
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    git(tmp_path, "init", "--bare", "--initial-branch=main", str(remote))
    clone.mkdir()
    for name in filter(None, run(["git", "ls-files", "-z"]).stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    git(clone, "init", "--initial-branch=main")
    git(clone, "config", f"url.{remote}.insteadOf", FORK_URL)
    git(clone, "remote", "add", "origin", FORK_URL)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "the fork as GitHub made it")
    git(clone, "push", "-q", "origin", "main")
    return clone, remote


def make_fork(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "HOME": str(clone.parent)}
    return run(["python3", "scripts/make_it_yours.py", *args], cwd=clone, env=env)


def old_references(root: Path, names: tuple[str, str, str]) -> list[str]:
    owner, repo, images = names
    olds = (f"github.com/{owner}/{repo}", f"ghcr.io/{images}/agent-system-")
    pattern = re.compile("|".join(map(re.escape, olds)))
    hits = []
    for path in root.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(root)}: {m.group(0)}" for m in pattern.finditer(text)]
    return hits


def test_make_fork_points_everything_at_the_fork_and_tags_the_release(fork: tuple[Path, Path]) -> None:
    clone, remote = fork
    names = current_names()
    assert old_references(clone, names), "the copy names the old account (upstream: the placeholder)"
    first = git(remote, "rev-parse", "main")

    proc = make_fork(clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert old_references(clone, names) == []
    head = git(remote, "rev-parse", "main")
    assert head != first
    assert git(remote, "log", "-1", "--format=%s", "main").startswith("Make it yours: Tester-1/my-agents")
    tree = git(remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    shown = {name: git(remote, "show", f"main:{name}") for name in tree if name.endswith((".yaml", ".md"))}
    placeholder = re.compile(r"(github\.com|ghcr\.io)/" + "OWN" + r"ER\b")
    assert not [n for n, text in shown.items() if placeholder.search(text)], "a placeholder survived"
    assert "repoURL: https://github.com/Tester-1/my-agents.git" in shown["apps/root.yaml"]
    assert "newName: ghcr.io/tester-1/agent-system-gateway" in shown["overlays/prod/kustomization.yaml"]
    version = re.search(r"newTag: (\d+\.\d+\.\d+)", shown["overlays/prod/kustomization.yaml"]).group(1)
    assert git(remote, "rev-parse", f"v{version}^{{commit}}") == head, "the release tag names the new commit"
    # the overlays still render, with the fork's images
    rendered = run(["kubectl", "kustomize", "overlays/prod"], cwd=clone)
    assert rendered.returncode == 0 and f"ghcr.io/tester-1/agent-system-worker:{version}" in rendered.stdout


def test_make_fork_twice_changes_nothing(fork: tuple[Path, Path]) -> None:
    clone, remote = fork
    assert make_fork(clone).returncode == 0
    head, tags = git(remote, "rev-parse", "main"), git(remote, "show-ref", "--tags")
    again = make_fork(clone)
    assert again.returncode == 0, again.stderr
    assert "already names Tester-1/my-agents" in again.stdout and "already on origin" in again.stdout
    assert git(remote, "rev-parse", "main") == head and git(remote, "show-ref", "--tags") == tags


def test_make_fork_refuses_a_dirty_tree_and_a_bad_name(fork: tuple[Path, Path]) -> None:
    clone, remote = fork
    before = git(remote, "rev-parse", "main")
    bad = make_fork(clone, "--owner", "not an account")
    assert bad.returncode == 1 and "not a GitHub account name" in bad.stderr
    (clone / "README.md").write_text("changed\n")
    dirty = make_fork(clone)
    assert dirty.returncode == 1 and "commit or stash" in dirty.stderr
    assert git(remote, "rev-parse", "main") == before and not git(remote, "tag", "--list")
