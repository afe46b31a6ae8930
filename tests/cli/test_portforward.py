"""--kube-context/--namespace: agentctl finds the pod behind api-gateway-service through the
Kubernetes API and forwards a local port to it over pods/portforward, here against a
stand-in API server (tests/cli/fake_kube.py) that forwards to the stack's real gateway.
The same path on a live cluster: tests/cluster/test_agentctl.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_common.devstack import Stack
from tests.cli.conftest import Result, run_agentctl, stored
from tests.cli.fake_kube import FakeKubeApi
from tests.support.pageserver import PageServer

NAMESPACE = "agent-system-test"


@pytest.fixture(scope="module")
def kube_api(stack: Stack) -> Iterator[FakeKubeApi]:
    api = FakeKubeApi(NAMESPACE, forward_to=stack.ports.gateway).start()
    yield api
    api.stop()


def kube(api: FakeKubeApi, tmp_path: Path, *args: str, config_dir: Path | None = None) -> Result:
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    return run_agentctl(
        *args, url=None, config_dir=config_dir or tmp_path / "config", env={"KUBECONFIG": str(kubeconfig)}
    )


def test_commands_go_through_the_port_forward(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    streams = kube_api.streams
    health = kube(kube_api, tmp_path, "--kube-context", "fake", "--namespace", NAMESPACE, "health", "--json")
    assert health.code == 0, health.err
    report = health.json()
    assert report["ok"] is True and report["target"] == f"kube:fake/{NAMESPACE}"
    assert report["gateway"]["url"].startswith("http://127.0.0.1:")
    assert kube_api.streams > streams  # the requests went through pods/portforward
    assert f"/api/v1/namespaces/{NAMESPACE}/services/api-gateway-service" in kube_api.requests
    assert any(
        p.startswith(f"/api/v1/namespaces/{NAMESPACE}/pods/gateway-") and "ports=8080" in p
        for p in kube_api.requests
    )  # the Service's named targetPort resolved on the pod

    done = kube(
        kube_api,
        tmp_path,
        "--kube-context",
        "fake",
        "-n",
        NAMESPACE,
        "task",
        "Text to summarize through a port-forward. It has a second sentence.",
        "--wait",
        "--json",
    )
    assert done.code == 0, done.err
    assert done.json()["status"] == "completed"
    # the session belongs to the namespace, not to the forward's local port (new every run)
    sessions = stored(tmp_path / "config")
    assert list(sessions) == [f"kube:fake/{NAMESPACE}"]
    listed = kube(kube_api, tmp_path, "--kube-context", "fake", "-n", NAMESPACE, "tasks", "--json")
    assert [t["task_id"] for t in listed.json()] == [done.json()["task_id"]]


def test_the_current_context_and_the_default_namespace(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    result = kube(kube_api, tmp_path, "--namespace", NAMESPACE, "health")
    assert result.code == 0, result.err
    assert "pod gateway-" in result.out and NAMESPACE in result.out
    missing = kube(kube_api, tmp_path, "--kube-context", "fake", "tasks")  # agent-system-dev: not here
    assert missing.code == 3
    assert "no service/api-gateway-service in namespace agent-system-dev" in missing.err
    assert "kubectl -n agent-system-dev get services" in missing.err


def test_an_unknown_context_is_a_usage_error(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    result = kube(kube_api, tmp_path, "--kube-context", "nope", "-n", NAMESPACE, "tasks")
    assert result.code == 2
    assert "nope" in result.err and "kubectl config get-contexts" in result.err


def test_load_through_the_port_forward(kube_api: FakeKubeApi, tmp_path: Path, pages: PageServer) -> None:
    streams = kube_api.streams
    result = kube(
        kube_api,
        tmp_path,
        "--kube-context",
        "fake",
        "-n",
        NAMESPACE,
        "--json",
        "load",
        "--tasks",
        "10",
        "--concurrency",
        "5",
        "--url",
        pages.url("/pages/wikipedia.html"),
    )
    assert result.code == 0, result.err
    assert result.json()["completed"] == 10
    assert kube_api.streams - streams >= 2  # concurrent requests, one stream per local connection
