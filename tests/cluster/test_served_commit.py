"""What the kind end-to-end run pushes, checked here without a cluster: the served commit
points every Argo CD source at the in-cluster Git server and every overlay at the images
loaded into kind; the replica and KEDA commits the tests push change what they should; the
Git server takes a push and serves it back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import served
from tests.manifests.support import REPO, Render, expand_applicationset, render

GIT_URL = "http://git-server.git-server.svc.cluster.local/agent-system.git"
SERVER = REPO / "tests" / "cluster" / "kind" / "gitserver" / "gitserver.py"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of what Argo CD reads from this checkout, as a Git repository."""
    root = tmp_path / "repo"
    for folder in ("apps", "argocd", "base", "overlays"):
        shutil.copytree(REPO / folder, root / folder)
    served.prepare(root, GIT_URL, "e2e", "(this checkout)")
    assert served.git(root, "rev-list", "--count", "HEAD") == "2"
    return root


def workloads(r: Render) -> list[dict]:
    return r.of_kind("Deployment", "StatefulSet", "Job", "Rollout")


def test_the_served_commit_uses_the_git_server_and_the_loaded_images(repo: Path) -> None:
    for folder in ("apps", "argocd"):
        for path in (repo / folder).rglob("*.yaml"):
            assert "OWNER" not in path.read_text(), path
    laptop = render(repo / "apps")
    ours = [a for a in laptop.of_kind("Application") if a["metadata"]["name"] in {"edge"}]
    assert [a["spec"]["source"]["repoURL"] for a in ours] == [GIT_URL]
    assert GIT_URL in laptop.get("AppProject", "agent-system")["spec"]["sourceRepos"]
    assert GIT_URL in laptop.get("AppProject", "cluster-addons")["spec"]["sourceRepos"]
    apps = expand_applicationset(laptop.get("ApplicationSet", "agent-system"), root=repo)
    assert sorted(apps) == ["dev", "staging"]
    assert {a["spec"]["source"]["repoURL"] for a in apps.values()} == {GIT_URL}
    assert served._load(repo / "apps" / "root.yaml")["spec"]["source"]["repoURL"] == GIT_URL
    for env in ("dev", "staging", "prod"):
        images = set()
        for doc in workloads(render(repo / "overlays" / env)):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                assert c["imagePullPolicy"] == "IfNotPresent", (env, doc["metadata"]["name"])
                images.add(c["image"])
        assert {f"agent-system-{s}:e2e" for s in served.SERVICES} <= images, env
        assert not any("OWNER" in i for i in images), env


def test_a_replica_change_is_one_line(repo: Path) -> None:
    served.set_replicas(repo, "dev", "gateway", 2)
    served.commit(repo, "dev: two gateways")
    numstat = served.git(repo, "show", "--numstat", "--format=", "HEAD")
    assert numstat == "1\t1\toverlays/dev/kustomization.yaml"
    assert render(repo / "overlays" / "dev").get("Deployment", "gateway")["spec"]["replicas"] == 2


def test_keda_for_dev_is_prods_scaling(repo: Path) -> None:
    served.enable_keda(repo, "dev")
    dev = render(repo / "overlays" / "dev")
    so = dev.get("ScaledObject", "worker")
    prod = render(REPO / "overlays" / "prod").get("ScaledObject", "worker")
    trigger, prod_trigger = so["spec"]["triggers"][0]["metadata"], prod["spec"]["triggers"][0]["metadata"]
    assert trigger["address"] == "redis-service.agent-system-dev.svc.cluster.local:6379"
    assert so["spec"]["minReplicaCount"] == prod["spec"]["minReplicaCount"]
    assert trigger["streamLength"] == prod_trigger["streamLength"]
    appset = render(repo / "apps").get("ApplicationSet", "agent-system")
    ignored = expand_applicationset(appset, root=repo)["dev"]["spec"]["ignoreDifferences"]
    assert ignored == [
        {
            "group": "apps",
            "kind": "Deployment",
            "name": "worker",
            "namespace": "agent-system-dev",
            "jsonPointers": ["/spec/replicas"],
        }
    ]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--root", str(tmp_path / "srv"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not listening(port):
        assert proc.poll() is None and time.monotonic() < deadline, "the Git server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/agent-system.git"
    proc.terminate()
    proc.wait(timeout=10)


def test_the_git_server_serves_what_was_pushed(repo: Path, git_server: str, tmp_path: Path) -> None:
    served.push(repo, git_server)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", git_server, str(clone)], check=True)
    assert served.git(clone, "rev-parse", "HEAD") == served.git(repo, "rev-parse", "HEAD")
    served.set_replicas(repo, "dev", "gateway", 2)
    pushed = served.commit(repo, "dev: two gateways")
    served.push(repo, git_server)
    remote = served.git(clone, "ls-remote", git_server, "refs/heads/main").split()[0]
    assert remote == pushed
