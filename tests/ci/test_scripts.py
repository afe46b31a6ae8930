"""The workflows' helper scripts on their own: the overlay images editor against kustomize's
own rendering, and the accepted-vulnerability list."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.ci.support import REPO, SCRIPTS, load_script, run
from tests.manifests.support import render

OVERLAY_IMAGES = load_script(SCRIPTS / "overlay_images.py")
VULNS = load_script(SCRIPTS / "vuln_exceptions.py")
DIGEST = "sha256:" + "ab" * 32


def copy_tree(tmp_path: Path) -> Path:
    for folder in ("base", "overlays"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def test_set_image_changes_only_the_images_block(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    path = root / "overlays/dev/kustomization.yaml"
    before = path.read_text()
    spec = f"agent-system-gateway=ghcr.io/me/agent-system-gateway:sha-0123456789ab@{DIGEST}"
    proc = run(["python3", str(SCRIPTS / "overlay_images.py"), "set", str(path.parent), spec])
    assert proc.returncode == 0, proc.stderr
    after = path.read_text()
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert {k: v for k, v in old.items() if k != "images"} == {k: v for k, v in new.items() if k != "images"}
    gateway = next(i for i in new["images"] if i["name"] == "agent-system-gateway")
    assert gateway == {
        "name": "agent-system-gateway",
        "newName": "ghcr.io/me/agent-system-gateway",
        "newTag": "sha-0123456789ab",
        "digest": DIGEST,
    }
    assert len(new["images"]) == len(old["images"])
    # comments outside the block survive, and kustomize renders the new reference
    assert [line for line in before.splitlines() if line.startswith("#")] == [
        line for line in after.splitlines() if line.startswith("#")
    ]
    deployment = render(path.parent).get("Deployment", "gateway")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/me/agent-system-gateway:sha-0123456789ab@{DIGEST}"


def test_copy_promotes_every_image(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    dev = root / "overlays/dev"
    specs = [
        f"agent-system-{s}=ghcr.io/me/agent-system-{s}:sha-0123456789ab@{DIGEST}"
        for s in ("frontend", "gateway", "orchestrator", "chat", "worker")
    ]
    assert run(["python3", str(SCRIPTS / "overlay_images.py"), "set", str(dev), *specs]).returncode == 0
    staging = root / "overlays/staging"
    proc = run(["python3", str(SCRIPTS / "overlay_images.py"), "copy", str(dev), str(staging)])
    assert proc.returncode == 0, proc.stderr
    staging = yaml.safe_load((root / "overlays/staging/kustomization.yaml").read_text())
    assert {i["name"]: (i["newTag"], i["digest"]) for i in staging["images"]} == {
        f"agent-system-{s}": ("sha-0123456789ab", DIGEST)
        for s in ("frontend", "gateway", "orchestrator", "chat", "worker")
    }


def test_bad_image_specs_are_refused() -> None:
    for spec in ("agent-system-gateway", "=ghcr.io/x:1", "agent-system-gateway=ghcr.io/x:1@sha256:short"):
        with pytest.raises(ValueError):
            OVERLAY_IMAGES.parse_spec(spec)


def test_the_accepted_vulnerabilities_are_well_formed() -> None:
    proc = run(["python3", str(SCRIPTS / "vuln_exceptions.py"), "check"])
    assert proc.returncode == 0, proc.stdout


def test_an_entry_needs_a_reason_and_an_expiry(tmp_path: Path) -> None:
    bad = tmp_path / ".trivyignore"
    bad.write_text(
        "CVE-2026-1111 exp:2027-01-01\n\n# the parser is never given untrusted input here\nCVE-2026-2222\n"
    )
    proc = run(["python3", str(SCRIPTS / "vuln_exceptions.py"), "check", "--file", str(bad)])
    assert proc.returncode == 1
    assert "CVE-2026-1111 needs its reason" in proc.stdout and "CVE-2026-2222 has no exp:" in proc.stdout


def test_expired_entries_count_again(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text(
        "# the vulnerable function is not called by any service\nCVE-2026-1111 exp:2026-06-30\n"
        "# no fixed release yet; only the test tools use this package\n"
        "GHSA-2345-6789-cfgh exp:2027-01-31\n"
    )
    proc = run(
        [
            "python3",
            str(SCRIPTS / "vuln_exceptions.py"),
            "pip-audit-args",
            "--file",
            str(path),
            "--today",
            "2026-12-01",
        ]
    )
    assert proc.returncode == 0
    assert proc.stdout.split() == ["--ignore-vuln", "GHSA-2345-6789-cfgh"]
    assert "CVE-2026-1111 expired on 2026-06-30" in proc.stderr
