"""Fixtures for the live-cluster tests (marker `cluster`; `make test-cluster`).

They need KUBECONFIG pointing at a disposable cluster that tests/cluster/kind/bootstrap.sh
brought up (kind in .github/workflows/e2e-kind.yaml): Argo CD from argocd/install syncing
the laptop profile from the in-cluster Git server, and E2E_REPO naming the served clone the
tests commit to. Without them they fail, never skip: being asked to test a cluster without
one is an error. Nothing here applies manifests: Argo CD does, from Git.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.manifests.support import expand_applicationset, render

NAMESPACE = "agent-system-dev"
ARGOCD = "argocd"
GIT_NAMESPACE, GIT_SERVICE = "git-server", "git-server"
BOOTSTRAP_TIMEOUT = 1500  # a fresh cluster: add-on charts, images, then the environments


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def api() -> Any:
    if not os.environ.get("KUBECONFIG"):
        pytest.fail(
            "the cluster tests need KUBECONFIG set to a disposable cluster (see tests/cluster/README.md)",
            pytrace=False,
        )
    from kubernetes import client, config
    from kubernetes.dynamic import DynamicClient

    config.load_kube_config()
    return DynamicClient(client.ApiClient())


@pytest.fixture(scope="session")
def served_repo() -> Path:
    """The clone of the served commit (tests/cluster/kind/bootstrap.sh prints its path)."""
    path = Path(os.environ.get("E2E_REPO", ""))
    if not os.environ.get("E2E_REPO") or not (path / ".git").exists():
        pytest.fail(
            "E2E_REPO must name the served clone that tests/cluster/kind/bootstrap.sh made", pytrace=False
        )
    return path


def application(api: Any, name: str) -> Any:
    apps = api.resources.get(api_version="argoproj.io/v1alpha1", kind="Application")
    return apps.get(name=name, namespace=ARGOCD)


def app_state(api: Any, name: str) -> tuple[str, str]:
    """(sync status, health status) of an Application; ("", "") while it does not exist."""
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        status = application(api, name).status
    except NotFoundError:
        return "", ""
    if status is None:
        return "", ""
    return (status.sync.status if status.sync else ""), (status.health.status if status.health else "")


def expected_applications(served_repo: Path) -> set[str]:
    """What the laptop profile makes: the root, the add-ons of apps/, and one Application
    per environment the ApplicationSet selects (read from the served commit)."""
    profile = render(served_repo / "apps")
    appset = profile.get("ApplicationSet", "agent-system")
    envs = expand_applicationset(appset, root=served_repo)
    return (
        {"root"}
        | {a["metadata"]["name"] for a in profile.of_kind("Application")}
        | {a["metadata"]["name"] for a in envs.values()}
    )


@pytest.fixture(scope="session")
def synced(api: Any, served_repo: Path) -> set[str]:
    """Every Application of the laptop profile Synced and Healthy (the bootstrap's end)."""
    names = expected_applications(served_repo)

    def not_there_yet() -> dict[str, tuple[str, str]]:
        return {n: s for n in names if (s := app_state(api, n)) != ("Synced", "Healthy")}

    wait_for(
        lambda: not not_there_yet() or None,
        BOOTSTRAP_TIMEOUT,
        "every Application Synced and Healthy",
        interval=10,
    )
    return names


@pytest.fixture(scope="session")
def deployed(synced: set[str], served_repo: Path) -> list[dict[str, Any]]:
    """overlays/dev as Argo CD synced it (the served commit's rendering)."""
    return render(served_repo / "overlays" / "dev").docs


@pytest.fixture(scope="session")
def port_forward() -> Iterator[Any]:
    """port_forward(namespace, service, port) -> local base URL, through kubectl port-forward."""
    procs: list[subprocess.Popen[bytes]] = []

    def forward(namespace: str, service: str, port: int) -> str:
        local = free_port()
        proc = subprocess.Popen(  # noqa: S603
            ["kubectl", "-n", namespace, "port-forward", f"service/{service}", f"{local}:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", local)) == 0

        wait_for(listening, 30, f"port-forward to {namespace}/{service}", interval=0.5)
        return f"http://127.0.0.1:{local}"

    yield forward
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def git_remote(port_forward: Any) -> str:
    """The served repository, through a port-forward to the in-cluster Git server."""
    return port_forward(GIT_NAMESPACE, GIT_SERVICE, 80) + "/agent-system.git"


def refresh(api: Any, name: str) -> None:
    """What the UI's Refresh button does: Argo CD reads Git now instead of at its next poll."""
    apps = api.resources.get(api_version="argoproj.io/v1alpha1", kind="Application")
    apps.patch(
        name=name,
        namespace=ARGOCD,
        content_type="application/merge-patch+json",
        body={"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}},
    )


def refresh_applicationset(api: Any, name: str = "agent-system") -> None:
    """Have the ApplicationSet controller read argocd/environments now."""
    sets = api.resources.get(api_version="argoproj.io/v1alpha1", kind="ApplicationSet")
    sets.patch(
        name=name,
        namespace=ARGOCD,
        content_type="application/merge-patch+json",
        body={"metadata": {"annotations": {"argocd.argoproj.io/application-set-refresh": "true"}}},
    )
