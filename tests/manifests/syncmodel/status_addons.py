"""The status the other add-on controllers write: KEDA 2.20 (a ScaledObject is Ready when
its scale target and its TriggerAuthentication's Secrets exist; the trigger's connection is
not simulated), Argo Rollouts 1.9 (the pods must start, named analysis templates and canary
Services must exist; the first rollout skips the canary steps), the Prometheus Operator,
CRDs (established at once) and Argo CD's own kinds (the status its simulated controllers
wrote). A custom resource whose controller is not installed keeps its CRD's default status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.objects import Obj, namespace_of
from tests.manifests.syncmodel.status_core import (
    Observed,
    default_status,
    generation,
    pod_problems,
    secret_keys,
)

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster


# ---- KEDA ------------------------------------------------------------------------------


def observe_scaledobject(cluster: Cluster, obj: Obj) -> Observed:
    if "keda" not in cluster.controllers:
        return default_status(cluster, obj, "KEDA does not run on this cluster")
    ns, spec = namespace_of(obj), obj["spec"]
    target = spec.get("scaleTargetRef") or {}
    group = (
        (target.get("apiVersion") or "apps/v1").split("/")[0]
        if "/" in (target.get("apiVersion") or "apps/v1")
        else ""
    )
    problems = []
    if cluster.lookup(group, target.get("kind", "Deployment"), ns, target.get("name", "")) is None:
        problems.append(f"scale target {target.get('kind', 'Deployment')}/{target.get('name')} not found")
    for trigger in spec.get("triggers") or []:
        auth = trigger.get("authenticationRef")
        if not auth:
            continue
        kind = auth.get("kind", "TriggerAuthentication")
        ta = cluster.lookup("keda.sh", kind, ns, auth["name"])
        if ta is None:
            problems.append(f"{kind} {auth['name']} not found")
            continue
        for ref in (ta.get("spec") or {}).get("secretTargetRef") or []:
            keys = secret_keys(cluster, ns if kind == "TriggerAuthentication" else "keda", ref["name"])
            if keys is None or ref.get("key") not in keys:
                problems.append(f"{kind} {auth['name']}: secret {ref['name']} key {ref.get('key')} not found")
    if problems:
        message = "; ".join(problems)
        return Observed(
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ScaledObjectCheckFailed",
                        "message": message,
                    }
                ]
            },
            message,
        )
    return Observed(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ScaledObjectReady",
                    "message": "ScaledObject is defined correctly and is ready for scaling",
                },
                {
                    "type": "Active",
                    "status": "False",
                    "reason": "ScalerNotActive",
                    "message": "Scaling is not performed",
                },
                {
                    "type": "Fallback",
                    "status": "False",
                    "reason": "NoFallbackFound",
                    "message": "No fallbacks are active",
                },
            ]
        },
        "KEDA created its HorizontalPodAutoscaler (the trigger's connection is not simulated)",
    )


# ---- Argo Rollouts ---------------------------------------------------------------------


def _analysis_templates(spec: dict[str, Any]) -> list[tuple[str, bool]]:
    """(name, cluster-scoped) of every analysis template a Rollout names."""
    found = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for t in value.get("templates") or []:
                if isinstance(t, dict) and "templateName" in t:
                    found.append((t["templateName"], bool(t.get("clusterScope"))))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(spec.get("strategy") or {})
    return found


def observe_rollout(cluster: Cluster, obj: Obj) -> Observed:
    if "argo-rollouts" not in cluster.controllers:
        return default_status(cluster, obj, "Argo Rollouts does not run on this cluster")
    ns, spec, gen = namespace_of(obj), obj["spec"], generation(obj)
    replicas = int(spec.get("replicas", 1))
    template = (spec.get("template") or {}).get("spec")
    ref = spec.get("workloadRef")
    if ref:
        workload = cluster.lookup("apps", ref.get("kind", "Deployment"), ns, ref["name"])
        template = (((workload or {}).get("spec") or {}).get("template") or {}).get("spec")
        if workload is None:
            return _rollout_degraded(gen, replicas, "InvalidSpec", f"workloadRef {ref['name']} not found")
    missing = [
        n
        for n, cluster_scope in _analysis_templates(spec)
        if cluster.lookup(
            "argoproj.io", "ClusterAnalysisTemplate" if cluster_scope else "AnalysisTemplate", ns, n
        )
        is None
    ]
    if missing:
        return _rollout_degraded(
            gen, replicas, "InvalidSpec", f"AnalysisTemplate {', '.join(missing)} not found"
        )
    canary = (spec.get("strategy") or {}).get("canary") or {}
    services = [canary.get(s) for s in ("canaryService", "stableService") if canary.get(s)]
    absent = [s for s in services if cluster.lookup("", "Service", ns, s) is None]
    if absent:
        return _rollout_degraded(gen, replicas, "InvalidSpec", f"Service {', '.join(absent)} not found")
    plugins = sorted((canary.get("trafficRouting") or {}).get("plugins") or {})
    if plugins:
        return Observed(
            None,
            f"traffic router plugins {plugins}",
            unknown=f"the model does not simulate Argo Rollouts traffic router plugins {plugins}",
        )
    problems = pod_problems(cluster, ns, template or {})
    if problems:
        return _rollout_degraded(gen, replicas, "ProgressDeadlineExceeded", "; ".join(problems))
    return Observed(
        {
            "observedGeneration": str(gen),
            "phase": "Healthy",
            "message": "",
            "currentPodHash": "model",
            "stableRS": "model",
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
        "the first rollout goes straight to the full replica count (steps apply to updates)",
    )


def _rollout_degraded(gen: int, replicas: int, reason: str, message: str) -> Observed:
    return Observed(
        {
            "observedGeneration": str(gen),
            "phase": "Degraded",
            "message": f"{reason}: {message}",
            "replicas": replicas,
        },
        message,
    )


# ---- Argo CD's own kinds, CRDs, Prometheus ---------------------------------------------


def observe_written(cluster: Cluster, obj: Obj) -> Observed:
    """Applications and ApplicationSets: the status the simulated Argo CD controllers wrote."""
    status = cluster.written.get(cluster.key(obj))
    return Observed(status, "as the Argo CD controllers reported it" if status else "not reconciled yet")


def observe_crd(cluster: Cluster, obj: Obj) -> Observed:
    return Observed(
        {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "message": "the initial names have been accepted"},
            ]
        },
        "established",
    )


def observe_prometheus(cluster: Cluster, obj: Obj) -> Observed:
    if "prometheus-operator" not in cluster.controllers:
        return default_status(cluster, obj, "the Prometheus Operator does not run on this cluster")
    return Observed({"conditions": [{"type": "Available", "status": "True"}]}, "the operator runs Prometheus")


OBSERVERS = {
    ("keda.sh", "ScaledObject"): observe_scaledobject,
    ("argoproj.io", "Rollout"): observe_rollout,
    ("argoproj.io", "Application"): observe_written,
    ("argoproj.io", "ApplicationSet"): observe_written,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): observe_crd,
    ("monitoring.coreos.com", "Prometheus"): observe_prometheus,
}
