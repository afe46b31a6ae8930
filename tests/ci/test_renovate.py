"""The Renovate config covers what is pinned here, checked against the files themselves:
its file patterns match them and its custom managers find the versions in them. (CI has no
Renovate; `npx --yes --package renovate -- renovate-config-validator --strict` validated the
config against Renovate's own schema, see .github/README.md.)"""

from __future__ import annotations

import re
from typing import Any

import json5

from tests.ci.support import REPO, run

CONFIG: dict[str, Any] = json5.loads((REPO / ".github" / "renovate.json5").read_text())
TRACKED = [n for n in run(["git", "ls-files"]).stdout.splitlines() if (REPO / n).is_file()]


def js_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate pattern ("/.../" or a JS regex with (?<name>...)) as a Python regex."""
    if pattern.startswith("/") and pattern.endswith("/"):
        pattern = pattern[1:-1]
    return re.compile(pattern.replace("(?<", "(?P<"), re.M)


def matched(manager: str) -> list[str]:
    patterns = [js_regex(p) for p in CONFIG[manager]["managerFilePatterns"]]
    return [n for n in TRACKED if any(p.search(n) for p in patterns)]


def test_actions_and_images_are_pinned_by_digest() -> None:
    wanted = {"config:recommended", "helpers:pinGitHubActionDigests", "docker:pinDigests"}
    assert wanted <= set(CONFIG["extends"])


def test_the_lock_is_maintained_and_the_exports_are_left_to_make_lock() -> None:
    assert CONFIG["lockFileMaintenance"]["enabled"] is True
    assert CONFIG["pip_requirements"]["enabled"] is False
    assert sorted(matched("pip-compile")) == ["requirements/bench-others.txt", "requirements/checkov.txt"]
    for name in matched("pip-compile"):  # the pip-compile manager re-runs the command in the header
        assert "uv pip compile requirements/" in (REPO / name).read_text().splitlines()[1]


def test_every_third_party_image_and_add_on_is_watched() -> None:
    kubernetes = matched("kubernetes")
    for name in kubernetes:
        assert name.startswith("base/")
    pinned = [n for n in TRACKED if n.startswith("base/") and "@sha256:" in (REPO / n).read_text()]
    assert pinned and set(pinned) <= set(kubernetes)
    apps = [n for n in TRACKED if n.startswith("apps/") and "kind: Application\n" in (REPO / n).read_text()]
    assert apps and set(apps) <= set(matched("argocd"))


def test_custom_managers_find_their_versions() -> None:
    found = {}
    for manager in CONFIG["customManagers"]:
        files = [n for n in TRACKED if any(js_regex(p).search(n) for p in manager["managerFilePatterns"])]
        assert files, manager["description"]
        for name in files:
            for pattern in manager["matchStrings"]:
                match = js_regex(pattern).search((REPO / name).read_text())
                assert match, f"{manager['description']}: nothing in {name}"
                found[manager["depNameTemplate"]] = match["currentValue"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", found["argoproj/argo-cd"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+", found["aquasecurity/trivy"])


def test_our_images_are_left_to_the_workflows() -> None:
    (rule,) = [r for r in CONFIG["packageRules"] if r.get("matchManagers") == ["kustomize"]]
    assert rule["enabled"] is False
    assert all(js_regex(p).search("ghcr.io/owner/agent-system-gateway") for p in rule["matchPackageNames"])
