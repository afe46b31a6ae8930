"""GitOps on a live cluster, as a user of the laptop profile sees it: every Application of
the profile Synced and Healthy; a replica count pushed to Git reaches the Deployment; a
Service deleted by hand comes back by self-heal; and with prod's KEDA scaling turned on for
dev by a push, `agentctl load` makes KEDA add workers while Argo CD leaves their count alone.
The pushes go to the in-cluster Git server Argo CD reads (tests/cluster/served.py makes the
commits). These run last: they change the cluster. Run with `make test-cluster`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import served
from tests.cluster.conftest import (
    NAMESPACE,
    app_state,
    application,
    refresh,
    refresh_applicationset,
    wait_for,
)

pytestmark = pytest.mark.cluster

DEV_APP = "agent-system-dev"
FOLLOW_TIMEOUT = 300
LOAD_URL = os.environ.get("E2E_LOAD_URL", "https://example.com/")
AGENTCTL = Path(sys.executable).with_name("agentctl")


def _get(api: Any, api_version: str, kind: str, name: str, namespace: str = NAMESPACE) -> Any:
    return api.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace)


def push(api: Any, repo: Path, remote: str, message: str) -> str:
    sha = served.commit(repo, message)
    served.push(repo, remote)
    refresh(api, DEV_APP)
    return sha


def synced_to(api: Any, sha: str) -> bool:
    status = application(api, DEV_APP).status
    return status.sync.revision == sha and app_state(api, DEV_APP) == ("Synced", "Healthy")


def test_every_application_of_the_laptop_profile_is_synced_and_healthy(api: Any, synced: set[str]) -> None:
    apps = api.resources.get(api_version="argoproj.io/v1alpha1", kind="Application").get(namespace="argocd")
    present = {a.metadata.name for a in apps.items}
    assert present == synced, f"unexpected: {present - synced}, missing: {synced - present}"
    assert {"agent-system-dev", "agent-system-staging"} <= present and "agent-system-prod" not in present
    for name in sorted(present):
        assert app_state(api, name) == ("Synced", "Healthy"), name


def test_a_pushed_replica_count_reaches_the_deployment(
    api: Any, synced: set[str], served_repo: Path, git_remote: str
) -> None:
    served.set_replicas(served_repo, "dev", "gateway", 2)
    sha = push(api, served_repo, git_remote, "dev: two gateways")

    def two_running() -> bool:
        d = _get(api, "apps/v1", "Deployment", "gateway")
        return d.spec.replicas == 2 and (d.status.availableReplicas or 0) == 2

    wait_for(two_running, FOLLOW_TIMEOUT, "dev's gateway Deployment at 2 available replicas")
    wait_for(lambda: synced_to(api, sha), FOLLOW_TIMEOUT, f"{DEV_APP} Synced and Healthy at {sha[:12]}")

    served.set_replicas(served_repo, "dev", "gateway", 1)  # back to overlays/dev's count
    sha = push(api, served_repo, git_remote, "dev: one gateway again")
    wait_for(
        lambda: _get(api, "apps/v1", "Deployment", "gateway").spec.replicas == 1,
        FOLLOW_TIMEOUT,
        "dev's gateway back at 1 replica",
    )
    wait_for(lambda: synced_to(api, sha), FOLLOW_TIMEOUT, f"{DEV_APP} Synced and Healthy at {sha[:12]}")


def test_a_deleted_service_comes_back(api: Any, synced: set[str]) -> None:
    services = api.resources.get(api_version="v1", kind="Service")
    before = services.get(name="chat-service", namespace=NAMESPACE).metadata.uid
    services.delete(name="chat-service", namespace=NAMESPACE)

    def recreated() -> bool:
        found = services.get(namespace=NAMESPACE, field_selector="metadata.name=chat-service").items
        return bool(found) and found[0].metadata.uid != before

    wait_for(recreated, FOLLOW_TIMEOUT, "self-heal to recreate chat-service")
    wait_for(
        lambda: app_state(api, DEV_APP) == ("Synced", "Healthy"),
        FOLLOW_TIMEOUT,
        f"{DEV_APP} Synced and Healthy again",
    )


def test_keda_scales_the_worker_under_load(
    api: Any, synced: set[str], served_repo: Path, git_remote: str, tmp_path: Path
) -> None:
    served.enable_keda(served_repo, "dev")
    sha = push(api, served_repo, git_remote, "dev: the worker scaled by KEDA, as in prod")
    refresh_applicationset(api)

    def ignores_worker_replicas() -> bool:
        ignored = application(api, DEV_APP).spec.ignoreDifferences or []
        return any(i.name == "worker" and "/spec/replicas" in i.jsonPointers for i in ignored)

    wait_for(ignores_worker_replicas, FOLLOW_TIMEOUT, f"{DEV_APP} to ignore the worker's replicas")
    refresh(api, DEV_APP)
    wait_for(lambda: synced_to(api, sha), FOLLOW_TIMEOUT, f"{DEV_APP} Synced and Healthy at {sha[:12]}")
    scaled = _get(api, "keda.sh/v1alpha1", "ScaledObject", "worker")
    floor = scaled.spec.minReplicaCount

    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    env["AGENTCTL_CONFIG_DIR"] = str(tmp_path)
    load = subprocess.Popen(  # noqa: S603
        [
            str(AGENTCTL),
            "--namespace",
            NAMESPACE,
            "load",
            "--tasks",
            "1500",
            "--concurrency",
            "50",
            "--url",
            LOAD_URL,
            "--timeout",
            "900",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[tuple[float, int, str]] = []
    start = time.monotonic()
    try:

        def scaled_out() -> bool:
            replicas = _get(api, "apps/v1", "Deployment", "worker").spec.replicas
            seen.append((round(time.monotonic() - start), replicas, app_state(api, DEV_APP)[0]))
            return replicas > floor or load.poll() is not None

        wait_for(scaled_out, 900, "KEDA to scale the worker past its minimum", interval=5)
        peak = max(r for _, r, _ in seen)
        assert peak > floor, f"the load ended before KEDA scaled out (replicas over time: {seen})"
        # Argo CD does not fight KEDA: the Application stays Synced at a count Git never named
        assert seen[-1][2] == "Synced", seen
        out, err = load.communicate(timeout=900)
    finally:
        if load.poll() is None:
            load.terminate()
            load.communicate(timeout=30)
    report = json.loads(out) if out.strip() else {}
    print(f"\nworker replicas over time (s, replicas, sync): {seen}\nload: {report or err[-2000:]}")
    assert report.get("completed", 0) > 0, err[-2000:]
