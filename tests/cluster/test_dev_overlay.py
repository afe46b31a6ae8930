"""overlays/dev on a live cluster: everything rolls out under Pod Security "restricted", the
migration Job completes, and a person's path works through the gateway (a session, a chat
message, a task that completes with a summary). Run with `make test-cluster`."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import NAMESPACE, wait_for
from tests.manifests.support import SERVICES

pytestmark = pytest.mark.cluster

ROLLOUT_TIMEOUT = 600


def _get(api: Any, api_version: str, kind: str, name: str) -> Any:
    return api.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=NAMESPACE)


def test_namespace_enforces_pod_security_restricted(api: Any, deployed: list[dict[str, Any]]) -> None:
    ns = api.resources.get(api_version="v1", kind="Namespace").get(name=NAMESPACE)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_data_stores_become_ready(api: Any, deployed: list[dict[str, Any]]) -> None:
    for name in ("postgres", "redis"):

        def ready(name: str = name) -> bool:
            sts = _get(api, "apps/v1", "StatefulSet", name)
            return (sts.status.readyReplicas or 0) == sts.spec.replicas

        wait_for(ready, ROLLOUT_TIMEOUT, f"StatefulSet {name} ready")


def test_migration_job_completes(api: Any, deployed: list[dict[str, Any]]) -> None:
    def done() -> bool:
        job = _get(api, "batch/v1", "Job", "migrate")
        if (job.status.failed or 0) >= job.spec.backoffLimit:
            pytest.fail("the migration Job failed", pytrace=False)
        return (job.status.succeeded or 0) >= 1

    wait_for(done, ROLLOUT_TIMEOUT, "Job migrate to complete")


@pytest.mark.parametrize("name", SERVICES)
def test_deployments_roll_out(api: Any, deployed: list[dict[str, Any]], name: str) -> None:
    def rolled_out() -> bool:
        d = _get(api, "apps/v1", "Deployment", name)
        s = d.status
        return (
            (s.observedGeneration or 0) >= d.metadata.generation
            and (s.updatedReplicas or 0) == d.spec.replicas
            and (s.availableReplicas or 0) == d.spec.replicas
        )

    wait_for(rolled_out, ROLLOUT_TIMEOUT, f"Deployment {name} rolled out")


def test_user_path_through_the_gateway(api: Any, port_forward: Any) -> None:
    for name in SERVICES:
        wait_for(
            lambda n=name: (_get(api, "apps/v1", "Deployment", n).status.availableReplicas or 0) >= 1,
            ROLLOUT_TIMEOUT,
            f"{name} available",
        )
    base = port_forward("api-gateway-service", 8080)
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/health").status_code == 200
        assert http.post("/api/task", json={"title": "x", "description": "y"}).status_code == 401

        session = http.post("/api/session")
        assert session.status_code == 201, session.text
        token = session.json()["session_token"]
        auth = {"Authorization": f"Bearer {token}"}

        chat = http.post("/api/chat", json={"message": "Hello from the cluster test"}, headers=auth)
        assert chat.status_code == 200, chat.text
        assert chat.json()["response"]

        text = (
            "Kubernetes runs containers across a cluster of machines. " * 3
            + "Argo CD keeps the cluster in step with a Git repository. " * 3
            + "KEDA scales workers on the length of a queue. " * 3
        )
        created = http.post(
            "/api/task",
            json={"title": "cluster summary", "description": f"Summarize this text: {text}"},
            headers=auth,
        )
        assert created.status_code == 202, created.text
        task_id = created.json()["task_id"]

        def finished() -> dict[str, Any] | None:
            task = http.get(f"/api/tasks/{task_id}", headers=auth).json()
            return task if task["status"] in ("completed", "failed", "cancelled") else None

        task = wait_for(finished, 180, f"task {task_id} to finish", interval=2)
        assert task["status"] == "completed", task
        assert task["result"]

    frontend = port_forward("frontend-service", 3000)
    page = httpx.get(frontend + "/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_pods_run_as_declared(api: Any, deployed: list[dict[str, Any]]) -> None:
    """Admission did not mutate our security settings away (and nothing runs as root)."""
    time.sleep(1)
    pods = api.resources.get(api_version="v1", kind="Pod").get(namespace=NAMESPACE)
    assert pods.items
    for pod in pods.items:
        for c in pod.spec.containers:
            sc = c.securityContext
            assert sc.readOnlyRootFilesystem is True and sc.allowPrivilegeEscalation is False, (
                pod.metadata.name
            )
