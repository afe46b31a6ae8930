"""Every rendered object is valid: built-in kinds strictly against the Kubernetes 1.32 API
(kubernetes-validate, offline), custom resources against their CRDs' schemas (jsonschema),
and the kinds with no CRD at hand (VerticalPodAutoscaler, PodMonitor, EnvoyProxy) field by
field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.manifests.support import (
    CRD_FILES,
    FIELD_CHECKED_KINDS,
    REPO,
    SERVICES,
    Render,
    containers,
    group_of,
    is_custom,
    pod_labels,
    render,
    selector_matches,
    validate_custom,
)

K8S_VERSION = "1.32"


def _validate_builtin(doc: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}"
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        return f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}"
    return None


_checked: dict[str, list[str]] = {}


def _check_all(docs: list[dict[str, Any]]) -> list[str]:
    """Problems of the documents; each distinct document is validated once per session (the
    component renders repeat most of the base)."""
    problems = []
    for doc in docs:
        key = json.dumps(doc, sort_keys=True)
        if key not in _checked:
            _checked[key] = _check_one(doc)
        problems += _checked[key]
    return problems


def _check_one(doc: dict[str, Any]) -> list[str]:
    if (group_of(doc), doc["kind"]) in FIELD_CHECKED_KINDS:
        return []  # test_vpa_fields
    if is_custom(doc):
        try:
            validate_custom(doc)
        except AssertionError as exc:
            return [str(exc)]
        return []
    problem = _validate_builtin(doc)
    return [problem] if problem else []


def test_overlay_objects_are_valid(overlay: Render) -> None:
    problems = _check_all(overlay.docs)
    assert not problems, "\n".join(problems)


def test_component_objects_are_valid(component_renders: dict[str, Render]) -> None:
    problems = []
    for name, result in component_renders.items():
        problems += [f"[{name}] {p}" for p in _check_all(result.docs)]
    assert not problems, "\n".join(problems)


def test_every_custom_kind_has_a_schema(every_render: list[Render]) -> None:
    kinds = {(group_of(d), d["kind"]) for r in every_render for d in r.docs if is_custom(d)}
    assert kinds <= set(CRD_FILES) | FIELD_CHECKED_KINDS


def _argocd_and_apps_docs() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for folder in ("argocd", "apps"):
        for path in sorted((REPO / folder).rglob("*.yaml")):
            # environments/ is data for the ApplicationSet (test_argocd checks it)
            if path.name == "kustomization.yaml" or path.parent.name == "environments":
                continue
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    out.append((path, doc))
    return out


def test_argocd_and_apps_files_are_valid() -> None:
    """Validated file by file, without fetching anything (argocd/install's upstream manifest
    is a URL that only a cluster bootstrap downloads)."""
    docs = _argocd_and_apps_docs()
    kinds = {d["kind"] for _, d in docs}
    assert {
        "Application",
        "ApplicationSet",
        "AppProject",
        "ConfigMap",
        "Namespace",
        "GatewayClass",
        "ClusterSecretStore",
    } <= kinds
    problems = []
    for path, doc in docs:
        for problem in _check_all([doc]):
            problems.append(f"{path.relative_to(REPO)}: {problem}")
    assert not problems, "\n".join(problems)


def test_vpa_fields(component_renders: dict[str, Render]) -> None:
    """autoscaling.k8s.io/v1 VerticalPodAutoscaler, field by field (the vpa component alone:
    test_invariants checks that it follows the Rollout with the rollouts component)."""
    vpas = component_renders["vpa"].of_kind("VerticalPodAutoscaler")
    deployments = {d["metadata"]["name"] for d in component_renders["vpa"].of_kind("Deployment")}
    assert {v["metadata"]["name"] for v in vpas} == deployments
    allowed_spec = {"targetRef", "updatePolicy", "resourcePolicy", "recommenders"}
    for vpa in vpas:
        assert vpa["apiVersion"] == "autoscaling.k8s.io/v1"
        spec = vpa["spec"]
        assert set(spec) <= allowed_spec, set(spec) - allowed_spec
        assert spec["targetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": vpa["metadata"]["name"],
        }
        # recommendations only: never evicts or resizes a pod
        assert spec["updatePolicy"] == {"updateMode": "Off"}
        for policy in spec["resourcePolicy"]["containerPolicies"]:
            assert set(policy) <= {
                "containerName",
                "controlledResources",
                "controlledValues",
                "minAllowed",
                "maxAllowed",
                "mode",
            }
            assert set(policy["controlledResources"]) <= {"cpu", "memory"}


def test_podmonitor_fields(component_renders: dict[str, Render]) -> None:
    """monitoring.coreos.com/v1 PodMonitor (prometheus-operator v0.93, the version of
    apps/addons/prometheus-operator-crds.yaml), field by field: it selects the five services'
    pods and scrapes ports those pods name."""
    r = component_renders["observability"]
    (monitor,) = r.of_kind("PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    allowed = {
        "selector",
        "namespaceSelector",
        "podMetricsEndpoints",
        "podTargetLabels",
        "jobLabel",
        "sampleLimit",
        "targetLimit",
    }
    assert set(spec) <= allowed, set(spec) - allowed
    endpoint_fields = {
        "port",
        "portNumber",
        "path",
        "interval",
        "scrapeTimeout",
        "scheme",
        "honorLabels",
        "relabelings",
        "metricRelabelings",
    }
    for endpoint in spec["podMetricsEndpoints"]:
        assert set(endpoint) <= endpoint_fields, set(endpoint) - endpoint_fields
        assert endpoint["path"] == "/metrics" and re.fullmatch(r"\d+s", endpoint["interval"])
    selected = [d for d in r.of_kind("Deployment") if selector_matches(spec["selector"], pod_labels(d))]
    assert sorted(d["metadata"]["name"] for d in selected) == sorted(SERVICES)
    wanted = {e["port"] for e in spec["podMetricsEndpoints"]}
    for d in selected:
        named = {p["name"] for c in containers(d) for p in c.get("ports", [])}
        assert named & wanted, f"{d['metadata']['name']}: no port named {wanted}"


def test_envoyproxy_fields() -> None:
    """gateway.envoyproxy.io/v1alpha1 EnvoyProxy (Envoy Gateway v1.9), field by field."""
    for path in ("apps/edge/laptop", "apps/edge/eks"):
        (proxy,) = render(REPO / path).of_kind("EnvoyProxy")
        assert proxy["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
        provider = proxy["spec"]["provider"]
        assert set(proxy["spec"]) == {"provider"} and provider["type"] == "Kubernetes"
        kube = provider["kubernetes"]
        assert set(kube) <= {"envoyService", "envoyDeployment"}
        assert set(kube["envoyService"]) <= {"type", "annotations"}
        assert kube["envoyService"]["type"] in {"ClusterIP", "LoadBalancer", "NodePort"}
        deployment = kube["envoyDeployment"]
        assert set(deployment) <= {"replicas", "container"} and set(deployment["container"]) <= {"resources"}
        assert int(deployment["replicas"]) >= 1


@pytest.mark.parametrize("kind", ["Deployment", "ScaledObject"])
def test_validators_reject_a_broken_object(kind: str) -> None:
    """The validators are not vacuous: an unknown field fails both ways."""
    if kind == "Deployment":
        doc = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"a": "b"}},
                "bogus": True,
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i:1"}]},
                },
            },
        }
        assert _validate_builtin(doc)
    else:
        doc = {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "x"},
            "spec": {
                "scaleTargetRef": {"name": "w"},
                "triggers": [{"type": "redis-streams", "metadata": {}}],
                "minReplicaCount": "two",
            },
        }
        with pytest.raises(AssertionError):
            validate_custom(doc)
        doc["spec"]["minReplicaCount"] = 2
        doc["spec"]["bogus"] = 1
        with pytest.raises(AssertionError, match="unknown field"):
            validate_custom(doc)
