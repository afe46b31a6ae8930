"""agentctl against overlays/dev on a live cluster, through its own port-forward (the
kubernetes client's pods/portforward, no kubectl): health, a task through to its summary,
the session kept under the namespace. Run with `make test-cluster`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import NAMESPACE, wait_for
from tests.manifests.support import SERVICES

pytestmark = pytest.mark.cluster

AGENTCTL = Path(sys.executable).with_name("agentctl")


def agentctl(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    env["AGENTCTL_CONFIG_DIR"] = str(config_dir)
    return subprocess.run(
        [str(AGENTCTL), "--namespace", NAMESPACE, *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def available(api: Any, deployed: list[dict[str, Any]]) -> None:
    deployments = api.resources.get(api_version="apps/v1", kind="Deployment")

    def up(name: str) -> bool:
        return (deployments.get(name=name, namespace=NAMESPACE).status.availableReplicas or 0) >= 1

    for name in SERVICES:
        wait_for(lambda n=name: up(n), 600, f"{name} available")


def test_agentctl_through_its_own_port_forward(available: None, tmp_path: Path) -> None:
    health = agentctl(tmp_path, "health", "--json")
    assert health.returncode == 0, health.stderr
    report = json.loads(health.stdout)
    assert report["ok"] is True and report["target"] == f"kube:<current>/{NAMESPACE}"
    assert all(u["ready"] for u in report["upstreams"].values())

    done = agentctl(
        tmp_path,
        "task",
        "A task from agentctl on the cluster. It has a second sentence.",
        "--wait",
        "--timeout",
        "180",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["status"] == "completed" and task["result"].startswith("Summary:")

    listed = agentctl(tmp_path, "tasks", "--json")  # a new port-forward, the same session
    assert listed.returncode == 0
    assert [t["task_id"] for t in json.loads(listed.stdout)] == [task["task_id"]]
    sessions = json.loads((tmp_path / "sessions.json").read_text())
    assert list(sessions) == [f"kube:<current>/{NAMESPACE}"]
