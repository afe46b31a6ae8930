"""Fixtures for the live-cluster tests (marker `cluster`; `make test-cluster`).

They need KUBECONFIG pointing at a disposable cluster (kind in .github/workflows/e2e-kind.yaml).
Without it they fail, never skip: being asked to test a cluster without one is an error.

Images: by default the overlay's own (ghcr.io/OWNER/...). CLUSTER_IMAGE_TAG=e2e swaps each
service image for the locally built agent-system-<service>:e2e (loaded into kind) and sets
imagePullPolicy IfNotPresent; CLUSTER_IMAGE_PREFIX=registry/path/ prefixes those names.
KEEP_NAMESPACE=1 leaves the namespace in place afterwards for a look around.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.manifests.support import REPO, SERVICES

NAMESPACE = "agent-system-dev"
FIELD_MANAGER = "agent-system-tests"


def _swap_images(docs: list[dict[str, Any]]) -> None:
    tag = os.environ.get("CLUSTER_IMAGE_TAG")
    if not tag:
        return
    prefix = os.environ.get("CLUSTER_IMAGE_PREFIX", "")
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            for service in SERVICES:
                if f"/agent-system-{service}:" in c["image"] or c["image"].startswith(
                    f"agent-system-{service}:"
                ):
                    c["image"] = f"{prefix}agent-system-{service}:{tag}"
                    c["imagePullPolicy"] = "IfNotPresent"


@pytest.fixture(scope="session")
def api() -> Any:
    if not os.environ.get("KUBECONFIG"):
        pytest.fail(
            "the cluster tests need KUBECONFIG set to a disposable cluster (see tests/cluster/conftest.py)",
            pytrace=False,
        )
    from kubernetes import client, config
    from kubernetes.dynamic import DynamicClient

    config.load_kube_config()
    return DynamicClient(client.ApiClient())


@pytest.fixture(scope="session")
def dev_objects() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on the PATH", pytrace=False)
    out = subprocess.run(
        [kubectl, "kustomize", str(REPO / "overlays" / "dev")], check=True, capture_output=True, text=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    _swap_images(docs)
    return docs


def apply(api: Any, doc: dict[str, Any]) -> None:
    resource = api.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    api.server_side_apply(
        resource,
        body=doc,
        namespace=doc["metadata"].get("namespace"),
        field_manager=FIELD_MANAGER,
        force_conflicts=True,
    )


@pytest.fixture(scope="session")
def deployed(api: Any, dev_objects: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """overlays/dev applied (server-side, as Argo CD does), in Argo CD's order: the
    Namespace, then everything by sync wave."""

    def wave(doc: dict[str, Any]) -> int:
        return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))

    ordered = sorted(dev_objects, key=lambda d: (d["kind"] != "Namespace", wave(d)))
    for doc in ordered:
        apply(api, doc)
    yield dev_objects
    if not os.environ.get("KEEP_NAMESPACE"):
        namespaces = api.resources.get(api_version="v1", kind="Namespace")
        namespaces.delete(name=NAMESPACE)


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
def port_forward(deployed: list[dict[str, Any]]) -> Iterator[Any]:
    """port_forward(service, port) -> local base URL, through `kubectl port-forward`."""
    procs: list[subprocess.Popen[bytes]] = []

    def forward(service: str, port: int) -> str:
        local = free_port()
        proc = subprocess.Popen(  # noqa: S603
            ["kubectl", "-n", NAMESPACE, "port-forward", f"service/{service}", f"{local}:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", local)) == 0

        wait_for(listening, 30, f"port-forward to {service}", interval=0.5)
        return f"http://127.0.0.1:{local}"

    yield forward
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
