"""overlays/dev as Argo CD synced it on a live cluster: everything rolls out under Pod
Security "restricted", the migration Job completes, and a person's path works through the
Gateway API route (Envoy Gateway's proxy, host agent.local): a session, a chat message, a
task that completes with a summary, and the page. Run with `make test-cluster`."""

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


def envoy_service(api: Any) -> tuple[str, int]:
    """The Service Envoy Gateway runs for dev's Gateway (in its own namespace), and its port."""
    services = api.resources.get(api_version="v1", kind="Service").get(
        namespace="envoy-gateway-system",
        label_selector="gateway.envoyproxy.io/owning-gateway-namespace=agent-system-dev,"
        "gateway.envoyproxy.io/owning-gateway-name=agent-system",
    )
    (svc,) = services.items
    return svc.metadata.name, svc.spec.ports[0].port


def test_user_path_through_the_gateway(api: Any, deployed: list[dict[str, Any]], port_forward: Any) -> None:
    name, port = envoy_service(api)
    base = port_forward("envoy-gateway-system", name, port)
    host = {"Host": "agent.local"}
    with httpx.Client(base_url=base, timeout=30, headers=host) as http:
        assert http.get("/api/tasks").status_code == 401  # routed to the gateway, which wants a session
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

        page = http.get("/")  # everything but /api goes to the frontend
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert http.get("/", headers={"Host": "elsewhere.example"}).status_code == 404  # one host only


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
