"""Linters and static checks: checkov on each rendered overlay (zero failures; every skip
named with its reason in .checkov.yaml), hadolint on every Dockerfile, yamllint on every YAML
file, and what the Dockerfiles, compose.yaml and the workflows must hold."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.support import DESIGN_SERVICES, ENVS, REPO, SERVICES, Render
from tests.manifests.tools import checkov, venv_tool

CHECKOV_CONFIG = REPO / ".checkov.yaml"


def checkov_skips() -> dict[str, str]:
    """Skipped check id -> the reason written in the comment just above it."""
    skips: dict[str, str] = {}
    comment: list[str] = []
    in_list = False
    for line in CHECKOV_CONFIG.read_text().splitlines():
        stripped = line.strip()
        if line.startswith("skip-check:"):
            in_list = True
            continue
        if in_list and not line.startswith(" "):
            in_list = False
        if not in_list:
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif stripped.startswith("- "):
            check = stripped[2:].strip()
            reason = " ".join(comment)
            assert reason.startswith(check), f".checkov.yaml: the comment above {check} must name it"
            skips[check] = reason[len(check) :].strip()
            comment = []
    return skips


def test_every_checkov_skip_has_a_reason() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    skips = checkov_skips()
    assert sorted(skips) == sorted(config["skip-check"])
    for check, reason in skips.items():
        assert len(reason.split()) >= 12, f"{check}: say why it is skipped"


@pytest.fixture(scope="session")
def checkov_results(
    rendered: dict[str, Render], component_renders: dict[str, Render], artifacts: dict[str, object]
) -> dict[str, dict[str, Any]]:
    """One checkov run over the three rendered overlays and the all-components render;
    results split per file."""
    folder = REPO / "test-artifacts" / "manifests" / "checkov"
    folder.mkdir(parents=True, exist_ok=True)
    files = {env: rendered[env].text for env in ENVS}
    files["components-all"] = component_renders["all"].text
    args = [
        *checkov(),
        "--config-file",
        str(CHECKOV_CONFIG),
        "--framework",
        "kubernetes",
        "--skip-download",
        "-o",
        "json",
    ]
    for name, text in files.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        args += ["-f", str(path)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=folder)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov gave no JSON report (exit {proc.returncode}):\n{proc.stderr[-3000:]}", pytrace=False
        )
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    out: dict[str, dict[str, Any]] = {}
    for name in files:
        out[name] = {"passed": [], "failed": [], "skipped": []}
    for kind in ("passed", "failed", "skipped"):
        for check in report["results"][f"{kind}_checks"]:
            name = Path(check["file_path"]).stem
            out[name][kind].append(check)
    artifacts["checkov"] = {name: {k: len(v) for k, v in res.items()} for name, res in out.items()}
    return out


# the first run on a machine installs checkov (tests/manifests/tools.py) inside this budget
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [*ENVS, "components-all"])
def test_checkov_finds_no_failure(checkov_results: dict[str, dict[str, Any]], name: str) -> None:
    result = checkov_results[name]
    assert len(result["passed"]) > 100, f"checkov produced too few results for {name}: is it running?"
    failed = sorted({f"{c['check_id']} {c['check_name']} ({c['resource']})" for c in result["failed"]})
    assert not failed, "\n".join(failed)
    skipped = {c["check_id"] for c in result["skipped"]}
    assert skipped <= set(checkov_skips()), f"skipped without a reason in .checkov.yaml: {skipped}"


# --- Dockerfiles ----------------------------------------------------------------------------


# the one image that is not a service: the kind e2e run's in-cluster Git server
GIT_SERVER_DOCKERFILE = "tests/cluster/kind/gitserver/Dockerfile"


def test_every_dockerfile_is_a_service_image() -> None:
    found = sorted(str(p.relative_to(REPO)) for p in REPO.glob("**/Dockerfile") if ".venv" not in p.parts)
    assert found == sorted([*(f"services/{s}/Dockerfile" for s in SERVICES), GIT_SERVER_DOCKERFILE])


@pytest.mark.parametrize("service", [*SERVICES, "e2e-git-server"])
def test_hadolint(service: str) -> None:
    if service == "e2e-git-server":
        dockerfile = REPO / GIT_SERVER_DOCKERFILE
    else:
        dockerfile = REPO / "services" / service / "Dockerfile"
    proc = subprocess.run(
        [venv_tool("hadolint"), "--config", str(REPO / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _stages(text: str) -> list[list[str]]:
    logical = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


# the Python base image, by tag and digest (Renovate keeps both current)
BASE_IMAGE = re.compile(r"python:3\.12\.\d+-slim-\w+@sha256:[0-9a-f]{64}")


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_shape(service: str) -> None:
    text = (REPO / "services" / service / "Dockerfile").read_text()
    build, final = _stages(text)
    base = build[0].split()[1]
    assert BASE_IMAGE.fullmatch(base), f"{build[0]}: the base image is pinned by tag and digest"
    assert build[0] == f"FROM {base} AS build" and final[0] == f"FROM {base}"
    # the build stage: the lock (pip and setuptools, then the service's requirements), then common
    # and this service from the repository root context
    copies = [line.split()[1:] for line in build if line.startswith("COPY ")]
    assert copies == [
        ["requirements/build.txt", f"requirements/{service}.txt", "requirements/"],
        ["services/common/", "services/common/"],
        [f"services/{service}/", f"services/{service}/"],
    ]
    installs = [c for line in build for c in re.split(r"&&", line) if "pip install" in c]
    locked = [c for c in installs if " -r " in c]
    assert [c.split(" -r ")[1].split()[0] for c in locked] == [
        "requirements/build.txt",
        f"requirements/{service}.txt",
    ]
    assert all("--require-hashes" in c and "--no-deps" in c for c in locked), locked
    (ours,) = [c for c in installs if "./services" in c]
    assert "--no-deps" in ours and ours.split()[-2:] == ["./services/common", f"./services/{service}"]
    assert any("pip check" in line for line in build), "the build fails when the lock misses a dependency"
    # the final stage: the venv only, no package manager or compiler, a numeric non-root user
    assert not any(re.search(r"apt-get|apk |gcc|build-essential|pip install", line) for line in final)
    assert "COPY --from=build /opt/venv /opt/venv" in final
    (user,) = [line.split()[1] for line in final if line.startswith("USER ")]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and (not gid or gid.isdigit()), user
    env = " ".join(line for line in final if line.startswith("ENV "))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    (cmd,) = [line for line in final if line.startswith("CMD ")]
    assert json.loads(cmd[4:]) == ["python", "-m", f"agent_{service}"], "exec-form CMD"
    (expose,) = [line for line in final if line.startswith("EXPOSE ")]
    assert int(expose.split()[1]) == DESIGN_SERVICES[service][0]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_sources_exist(service: str) -> None:
    """What the image copies and runs is where the Dockerfile expects it."""
    for path in (
        "services/common/pyproject.toml",
        f"services/{service}/pyproject.toml",
        f"services/{service}/agent_{service}/__init__.py",
        f"services/{service}/agent_{service}/__main__.py",
        "services/common/agent_common/migrate.py",
    ):
        assert (REPO / path).is_file(), f"{path} is missing: the image would not build or start"
    common = (REPO / "services/common/pyproject.toml").read_text()
    assert re.search(r'^agent-migrate\s*=\s*"agent_common\.migrate:main"', common, re.M)


def test_dockerignore_sends_only_the_services() -> None:
    lines = [
        x.strip() for x in (REPO / ".dockerignore").read_text().splitlines() if x.strip() and x[0] != "#"
    ]
    assert lines[:3] == ["*", "!services/", "!requirements/*.txt"]
    assert "services/**/*.egg-info" in lines and "services/**/__pycache__" in lines


# --- YAML -----------------------------------------------------------------------------------


def test_yamllint_every_yaml_file() -> None:
    proc = subprocess.run(
        [venv_tool("yamllint"), "-c", str(REPO / ".yamllint"), "-f", "parsable", "."],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\n")
    proc = subprocess.run(
        [venv_tool("yamllint"), "-c", str(REPO / ".yamllint"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "duplication" in proc.stdout


# --- compose.yaml -------------------------------------------------------------------------------


def test_compose_runs_the_whole_system() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", *SERVICES}
    # the same pinned images as the Kubernetes base
    for name in ("postgres", "redis"):
        base = yaml.safe_load((REPO / "base" / name / "statefulset.yaml").read_text())
        (container,) = base["spec"]["template"]["spec"]["containers"]
        assert services[name]["image"] == container["image"], name
    assert "--appendonly" in services["redis"]["command"]
    assert services["migrate"]["command"] == ["agent-migrate"]
    assert services["migrate"]["build"]["dockerfile"] == "services/orchestrator/Dockerfile"
    needs = {
        "frontend": {"PORT", "API_GATEWAY_URL"},
        "gateway": {"PORT", "DATABASE_URL", "REDIS_URL", "CHAT_SERVICE_URL", "ORCHESTRATOR_URL"},
        "orchestrator": {"PORT", "DATABASE_URL", "REDIS_URL"},
        "chat": {
            "PORT",
            "DATABASE_URL",
            "REDIS_URL",
            "ORCHESTRATOR_URL",
            "LLM_PROVIDER",
            "LLM_MODEL",
            "LLM_BASE_URL",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
        },
        "worker": {
            "METRICS_PORT",
            "DATABASE_URL",
            "REDIS_URL",
            "WORKER_CONCURRENCY",
            "FETCH_ALLOWED_HOSTS",
            "LLM_PROVIDER",
            "LLM_MODEL",
            "LLM_BASE_URL",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
        },
    }
    for name in SERVICES:
        svc = services[name]
        assert svc["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
        assert (REPO / svc["build"]["dockerfile"]).is_file()
        assert needs[name] <= set(svc["environment"]), name
        port_var = "METRICS_PORT" if name == "worker" else "PORT"
        assert svc["environment"][port_var] == str(DESIGN_SERVICES[name][0])
        assert svc["read_only"] is True and svc["user"] == "10001:10001" and svc["cap_drop"] == ["ALL"]
        assert "/tmp" in svc["tmpfs"]  # noqa: S108 - the container's tmpfs
        health = svc["healthcheck"]["test"]
        assert f":{DESIGN_SERVICES[name][0]}/health" in " ".join(health), name
        if name != "frontend":
            assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    published = {name: svc.get("ports", []) for name, svc in services.items() if svc.get("ports")}
    assert published == {"frontend": ["127.0.0.1:3000:3000"], "gateway": ["127.0.0.1:8080:8080"]}


# --- workflows ---------------------------------------------------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_workflows() -> None:
    names = sorted(p.name for p in (REPO / ".github" / "workflows").glob("*.y*ml"))
    assert {"ci.yaml", "images.yaml", "e2e-kind.yaml"} <= set(names)
    for name in names:
        doc = _workflow(name)
        assert doc["permissions"] == {"contents": "read"}, f"{name}: least privilege at the top"
        for step in _steps(doc):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"]), step[
                    "uses"
                ]
    ci = _workflow("ci.yaml")
    assert any("bash .ci/run" in s.get("run", "") for s in _steps(ci))

    e2e = _workflow("e2e-kind.yaml")
    runs = "\n".join(s.get("run", "") for s in _steps(e2e))
    assert "make test-cluster" in runs and "KUBECONFIG" in runs
    assert any(s.get("uses", "").startswith("helm/kind-action") for s in _steps(e2e))
    # the logic lives in scripts (shellcheck-able, partly tested without a cluster)
    scripts = {"build-images.sh", "bootstrap.sh", "dump.sh"}
    for script in scripts:
        path = REPO / "tests" / "cluster" / "kind" / script
        assert f"tests/cluster/kind/{script}" in runs and path.stat().st_mode & 0o111, script
    kind = REPO / "tests" / "cluster" / "kind"
    assert "kind load docker-image" in (kind / "build-images.sh").read_text()
    bootstrap = (kind / "bootstrap.sh").read_text()
    assert '-k "${repo}/argocd/install"' in bootstrap and "apps/root.yaml" in bootstrap
