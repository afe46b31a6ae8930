"""Argo CD's built-in health checks for core kinds, ported line for line from
../shared/argocd-v3.5.1/health-go/ (gitops-engine/pkg/health/ at v3.5.1). Each function cites
its file; the messages are Argo CD's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.manifests.syncmodel.objects import Obj, api_version, condition

Health = tuple[str, str]  # (status, message)


def _gen(obj: Obj) -> int:
    return int(obj.get("metadata", {}).get("generation", 0) or 0)


def _status(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def deployment(obj: Obj) -> Health:
    """health_deployment.go getAppsv1DeploymentHealth."""
    spec, st = obj.get("spec", {}), _status(obj)
    if spec.get("paused"):
        return "Suspended", "Deployment is paused"
    if _gen(obj) > int(st.get("observedGeneration", 0)):
        return (
            "Progressing",
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        )
    replicas = spec.get("replicas")
    updated, total, available = (
        int(st.get(f, 0)) for f in ("updatedReplicas", "replicas", "availableReplicas")
    )
    cond = condition(st, "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded", f'Deployment "{obj["metadata"]["name"]}" exceeded its progress deadline'
    if replicas is not None and updated < int(replicas):
        return "Progressing", (
            f"Waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated..."
        )
    if total > updated:
        return (
            "Progressing",
            f"Waiting for rollout to finish: {total - updated} old replicas are pending termination...",
        )
    if available < updated:
        return (
            "Progressing",
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are available...",
        )
    return "Healthy", ""


def statefulset(obj: Obj) -> Health:
    """health_statefulset.go getAppsv1StatefulSetHealth."""
    spec, st = obj.get("spec", {}), _status(obj)
    observed = int(st.get("observedGeneration", 0))
    if observed == 0 or _gen(obj) > observed:
        return "Progressing", "Waiting for statefulset spec update to be observed..."
    replicas, ready = spec.get("replicas"), int(st.get("readyReplicas", 0))
    if replicas is not None and ready < int(replicas):
        return "Progressing", f"Waiting for {int(replicas) - ready} pods to be ready..."
    strategy = spec.get("updateStrategy") or {}
    updated = int(st.get("updatedReplicas", 0))
    if strategy.get("type") == "RollingUpdate" and strategy.get("rollingUpdate") is not None:
        partition = strategy["rollingUpdate"].get("partition")
        if replicas is not None and partition is not None and updated < int(replicas) - int(partition):
            return "Progressing", (
                f"Waiting for partitioned roll out to finish: {updated} out of "
                f"{int(replicas) - int(partition)} new pods have been updated..."
            )
        return "Healthy", f"partitioned roll out complete: {updated} new pods have been updated..."
    if strategy.get("type") == "OnDelete":
        return "Healthy", f"statefulset has {ready} ready pods"
    if st.get("updateRevision", "") != st.get("currentRevision", ""):
        return "Progressing", (
            f"waiting for statefulset rolling update to complete {updated} pods at "
            f"revision {st.get('updateRevision', '')}..."
        )
    return "Healthy", (
        f"statefulset rolling update complete {int(st.get('currentReplicas', 0))} pods at "
        f"revision {st.get('currentRevision', '')}..."
    )


def daemonset(obj: Obj) -> Health:
    """health_daemonset.go getAppsv1DaemonSetHealth."""
    st, name = _status(obj), obj["metadata"]["name"]
    if _gen(obj) > int(st.get("observedGeneration", 0)):
        return (
            "Progressing",
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        )
    updated, desired = int(st.get("updatedNumberScheduled", 0)), int(st.get("desiredNumberScheduled", 0))
    if (obj.get("spec", {}).get("updateStrategy") or {}).get("type") == "OnDelete":
        return "Healthy", f"daemon set {updated} out of {desired} new pods have been updated"
    if updated < desired:
        return "Progressing", (
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} '
            "new pods have been updated..."
        )
    available = int(st.get("numberAvailable", 0))
    if available < desired:
        return "Progressing", (
            f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} '
            "updated pods are available..."
        )
    return "Healthy", ""


def ingress(obj: Obj) -> Health:
    """health_ingress.go getIngressHealth: Healthy once a controller published an address."""
    published = ((_status(obj).get("loadBalancer") or {}).get("ingress")) or []
    return ("Healthy", "") if published else ("Progressing", "")


def service(obj: Obj) -> Health:
    """health_service.go getCorev1ServiceHealth: only a LoadBalancer waits for an address."""
    if obj.get("spec", {}).get("type") == "LoadBalancer":
        published = ((_status(obj).get("loadBalancer") or {}).get("ingress")) or []
        return ("Healthy", "") if published else ("Progressing", "")
    return "Healthy", ""


def pvc(obj: Obj) -> Health:
    """health_pvc.go getCorev1PVCHealth."""
    phase = _status(obj).get("phase")
    return {"Lost": "Degraded", "Pending": "Progressing", "Bound": "Healthy"}.get(phase, "Unknown"), ""


def job(obj: Obj) -> Health:
    """health_job.go getBatchv1JobHealth."""
    failed = complete = suspended = False
    fail_msg = message = ""
    for cond in _status(obj).get("conditions") or []:
        if cond.get("type") == "Failed":
            failed = complete = True
            fail_msg = cond.get("message", "")
        elif cond.get("type") == "Complete":
            complete = True
            message = cond.get("message", "")
        elif cond.get("type") == "Suspended":
            complete = True
            message = cond.get("message", "")
            suspended = suspended or cond.get("status") == "True"
    if not complete:
        return "Progressing", message
    if failed:
        return "Degraded", fail_msg
    if suspended:
        return "Suspended", fail_msg
    return "Healthy", message


def pod(obj: Obj) -> Health:
    """health_pod.go getCorev1PodHealth."""
    spec, st = obj.get("spec", {}), _status(obj)
    policy = spec.get("restartPolicy", "Always")
    statuses = st.get("containerStatuses") or []
    if policy == "Always":
        bad = [(c.get("state") or {}).get("waiting") for c in statuses]
        messages = [w.get("message", "") for w in bad if w and _waiting_error(w.get("reason", ""))]
        if messages:
            return "Degraded", ", ".join(messages)
    phase, message = st.get("phase"), st.get("message", "")
    if phase == "Pending":
        return "Progressing", message
    if phase == "Succeeded":
        return "Healthy", message
    if phase == "Failed":
        if message:
            return "Degraded", message
        for ctr in (st.get("initContainerStatuses") or []) + statuses:
            term = (ctr.get("state") or {}).get("terminated")
            if term and (term.get("message") or term.get("reason") == "OOMKilled" or term.get("exitCode", 0)):
                return "Degraded", term.get("message") or (
                    "OOMKilled"
                    if term.get("reason") == "OOMKilled"
                    else f'container "{ctr.get("name")}" failed with exit code {term.get("exitCode")}'
                )
        return "Degraded", ""
    if phase == "Running":
        if policy == "Always":
            if (condition(st, "Ready") or {}).get("status") == "True":
                return "Healthy", message
            if any((c.get("lastState") or {}).get("terminated") for c in statuses):
                return "Degraded", message
            return "Progressing", message
        if policy in ("OnFailure", "Never"):
            return "Progressing", message
    return "Unknown", message


def _waiting_error(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")


_HPA_DEGRADED = {
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
}


def hpa(obj: Obj) -> Health:
    """health_hpa.go (autoscaling/v2 conditions; v1 reads them from an annotation)."""
    if api_version(obj) == "v1":
        import json

        text = (obj.get("metadata", {}).get("annotations") or {}).get(
            "autoscaling.alpha.kubernetes.io/conditions"
        )
        conditions = json.loads(text) if text else []
    else:
        conditions = _status(obj).get("conditions") or []
    for c in conditions:
        if (c.get("type"), c.get("reason")) in _HPA_DEGRADED:
            return "Degraded", c.get("message", "")
    for c in conditions:
        if c.get("type") in ("AbleToScale", "ScalingLimited") and c.get("status") == "True":
            return "Healthy", c.get("message", "")
    return "Progressing", "Waiting to Autoscale"


# health.go GetHealthCheckFunc, for the kinds whose Go file ../shared/argocd-v3.5.1/health-go holds.
# ReplicaSet, APIService and argoproj.io/Workflow have built-in checks that are not ported:
# the model reports them as unknown (NOT_PORTED) instead of guessing.
CHECKS: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): deployment,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("extensions", "Ingress"): ingress,
    ("networking.k8s.io", "Ingress"): ingress,
    ("", "Service"): service,
    ("", "PersistentVolumeClaim"): pvc,
    ("", "Pod"): pod,
    ("batch", "Job"): job,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa,
}
NOT_PORTED = {("apps", "ReplicaSet"), ("apiregistration.k8s.io", "APIService"), ("argoproj.io", "Workflow")}
SOURCE = {
    "Deployment": "health_deployment.go",
    "StatefulSet": "health_statefulset.go",
    "DaemonSet": "health_daemonset.go",
    "Ingress": "health_ingress.go",
    "Service": "health_service.go",
    "PersistentVolumeClaim": "health_pvc.go",
    "Pod": "health_pod.go",
    "Job": "health_job.go",
    "HorizontalPodAutoscaler": "health_hpa.go",
}
