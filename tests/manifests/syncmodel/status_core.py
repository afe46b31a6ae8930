"""The status Kubernetes' own controllers write, once they have had enough time.

Pods of a workload start when everything they need exists: the images, the Secrets and
ConfigMaps (and keys) they read unless marked optional, their service account and
RuntimeClass, claims that bind, and a pod spec the namespace's Pod Security level admits.
Readiness probes are assumed to pass once that holds: whether the processes answer is what
the kind end-to-end run shows, not this model. A Deployment whose pods cannot start ends with
ProgressDeadlineExceeded; a StatefulSet just waits; a Job fails at its activeDeadlineSeconds
or waits forever without one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.objects import Obj, name_of, namespace_of

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster


@dataclass(frozen=True)
class Observed:
    status: dict[str, Any] | None
    cause: str  # why the status is what it is, in the model's words (reported next to the health)
    unknown: str | None = None  # set when the model cannot tell: the finding fails the test


# ---- what a pod needs ------------------------------------------------------------------


def secret_keys(cluster: Cluster, ns: str, name: str) -> set[str] | None:
    """The keys of a Secret that exists or that a Ready ExternalSecret writes; None if neither."""
    secret = cluster.lookup("", "Secret", ns, name)
    if secret is not None:
        return set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    from tests.manifests.syncmodel.status_secrets import external_secret_keys

    return external_secret_keys(cluster, ns, name)


def _configmap_keys(cluster: Cluster, ns: str, name: str) -> set[str] | None:
    cm = cluster.lookup("", "ConfigMap", ns, name)
    return None if cm is None else set(cm.get("data") or {}) | set(cm.get("binaryData") or {})


def _ref_problem(kind: str, keys: set[str] | None, name: str, key: str | None, optional: bool) -> str | None:
    if optional:
        return None
    if keys is None:
        return f'CreateContainerConfigError: {kind.lower()} "{name}" not found'
    if key is not None and key not in keys:
        return f"CreateContainerConfigError: couldn't find key {key} in {kind} {name}"
    return None


def _container_problems(cluster: Cluster, ns: str, container: dict[str, Any]) -> list[str]:
    problems = []
    image = container.get("image", "")
    if not cluster.profile.image_pullable(image):
        problems.append(
            f'ImagePullBackOff: image "{image}" cannot be pulled on the {cluster.profile.name} profile'
        )
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            problems.append(
                _ref_problem(
                    "Secret",
                    secret_keys(cluster, ns, ref["name"]),
                    ref["name"],
                    ref.get("key"),
                    bool(ref.get("optional")),
                )
            )
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            problems.append(
                _ref_problem(
                    "ConfigMap",
                    _configmap_keys(cluster, ns, ref["name"]),
                    ref["name"],
                    ref.get("key"),
                    bool(ref.get("optional")),
                )
            )
    for src in container.get("envFrom") or []:
        if "secretRef" in src:
            ref = src["secretRef"]
            problems.append(
                _ref_problem(
                    "Secret",
                    secret_keys(cluster, ns, ref["name"]),
                    ref["name"],
                    None,
                    bool(ref.get("optional")),
                )
            )
        if "configMapRef" in src:
            ref = src["configMapRef"]
            problems.append(
                _ref_problem(
                    "ConfigMap",
                    _configmap_keys(cluster, ns, ref["name"]),
                    ref["name"],
                    None,
                    bool(ref.get("optional")),
                )
            )
    return [p for p in problems if p]


def _volume_problems(cluster: Cluster, ns: str, spec: dict[str, Any], claims: dict[str, Obj]) -> list[str]:
    problems = []
    for vol in spec.get("volumes") or []:
        secret, cm = vol.get("secret") or {}, vol.get("configMap") or {}
        if secret and not secret.get("optional") and secret_keys(cluster, ns, secret["secretName"]) is None:
            problems.append(f'FailedMount: secret "{secret["secretName"]}" not found')
        if cm and not cm.get("optional") and _configmap_keys(cluster, ns, cm["name"]) is None:
            problems.append(f'FailedMount: configmap "{cm["name"]}" not found')
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            pvc = claims.get(claim) or cluster.lookup("", "PersistentVolumeClaim", ns, claim)
            if pvc is None:
                problems.append(f'FailedScheduling: persistentvolumeclaim "{claim}" not found')
            else:
                bound, why = claim_binds(cluster, pvc, consumed=True)
                if not bound:
                    problems.append(f"FailedScheduling: claim {claim} stays Pending: {why}")
    return problems


def _restricted_problems(spec: dict[str, Any]) -> list[str]:
    """Pod Security Standard "restricted" (the checks a workload here could trip)."""
    pod_ctx = spec.get("securityContext") or {}
    problems = []
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append("host namespaces")
    if any("hostPath" in v for v in spec.get("volumes") or []):
        problems.append("hostPath volumes")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f"{c['name']}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation != false")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            problems.append(f'{c["name"]}: capabilities.drop must include "ALL"')
        if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
            problems.append(f"{c['name']}: runAsNonRoot != true")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{c['name']}: seccompProfile.type must be RuntimeDefault or Localhost")
    return problems


def pod_problems(
    cluster: Cluster, ns: str, spec: dict[str, Any], claims: dict[str, Obj] | None = None
) -> list[str]:
    """Why pods with this spec would not start and turn Ready; [] when they would."""
    problems: list[str] = []
    sa = spec.get("serviceAccountName") or "default"
    if sa != "default" and cluster.lookup("", "ServiceAccount", ns, sa) is None:
        problems.append(f'FailedCreate: serviceaccount "{sa}" not found')
    runtime = spec.get("runtimeClassName")
    if runtime and cluster.lookup("node.k8s.io", "RuntimeClass", "", runtime) is None:
        problems.append(f'FailedCreate: RuntimeClass "{runtime}" not found')
    if cluster.namespace_labels(ns).get("pod-security.kubernetes.io/enforce") == "restricted":
        violations = _restricted_problems(spec)
        if violations:
            problems.append('FailedCreate: violates PodSecurity "restricted": ' + "; ".join(violations))
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        problems += _container_problems(cluster, ns, c)
    return problems + _volume_problems(cluster, ns, spec, claims or {})


# ---- storage ---------------------------------------------------------------------------


def _default_class(cluster: Cluster) -> Obj | None:
    for sc in cluster.find("storage.k8s.io", "StorageClass"):
        if (sc["metadata"].get("annotations") or {}).get(
            "storageclass.kubernetes.io/is-default-class"
        ) == "true":
            return sc
    return None


def _provisioner_works(cluster: Cluster, provisioner: str) -> bool:
    available = set(cluster.profile.provisioners) | {
        c.removeprefix("provisioner:") for c in cluster.controllers if c.startswith("provisioner:")
    }
    # CSI migration: the in-tree AWS plugin is served by the EBS CSI driver
    return provisioner in available or (
        provisioner == "kubernetes.io/aws-ebs" and "ebs.csi.aws.com" in available
    )


def claim_binds(cluster: Cluster, pvc: Obj, consumed: bool) -> tuple[bool, str]:
    """Whether a claim binds, and why not. WaitForFirstConsumer classes bind only once a pod
    that mounts the claim is scheduled."""
    spec = pvc.get("spec") or {}
    name = spec.get("storageClassName")
    if name == "":
        return False, 'storageClassName "" asks for a pre-provisioned PersistentVolume and none exists'
    sc = (
        _default_class(cluster)
        if name is None
        else cluster.lookup("storage.k8s.io", "StorageClass", "", name)
    )
    if sc is None:
        return False, (
            "no default StorageClass on this cluster"
            if name is None
            else f'StorageClass "{name}" does not exist'
        )
    if not _provisioner_works(cluster, sc.get("provisioner", "")):
        return False, f'no volume provisioner "{sc.get("provisioner")}" runs for StorageClass "{name_of(sc)}"'
    if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not consumed:
        return (
            False,
            f'StorageClass "{name_of(sc)}" binds a claim only once a pod uses it (WaitForFirstConsumer)',
        )
    return True, f'provisioned by StorageClass "{name_of(sc)}"'


def _claim_consumed(cluster: Cluster, pvc: Obj) -> bool:
    ns, claim = namespace_of(pvc), name_of(pvc)
    for group, kind in (
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("batch", "Job"),
        ("", "Pod"),
        ("argoproj.io", "Rollout"),
    ):
        for obj in cluster.find(group, kind, ns):
            spec = (obj.get("spec") or {}).get("template", {}).get("spec") or obj.get("spec") or {}
            if any(
                (v.get("persistentVolumeClaim") or {}).get("claimName") == claim
                for v in spec.get("volumes") or []
            ):
                return True
    return False


def observe_pvc(cluster: Cluster, obj: Obj) -> Observed:
    bound, why = claim_binds(cluster, obj, consumed=_claim_consumed(cluster, obj))
    return Observed({"phase": "Bound" if bound else "Pending"}, why)


# ---- workloads -------------------------------------------------------------------------


def _template_spec(obj: Obj) -> dict[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def observe_deployment(cluster: Cluster, obj: Obj) -> Observed:
    replicas = int(obj["spec"].get("replicas", 1))
    problems = pod_problems(cluster, namespace_of(obj), _template_spec(obj))
    if problems and replicas > 0:
        return Observed(
            {
                "observedGeneration": generation(obj),
                "replicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": 0,
                "unavailableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f"ReplicaSet has timed out progressing: {'; '.join(problems)}",
                    },
                ],
            },
            "pods never turn ready: " + "; ".join(problems),
        )
    return Observed(
        {
            "observedGeneration": generation(obj),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
        f"{replicas} pods ready",
    )


def _claim_templates(obj: Obj, ordinal: int = 0) -> dict[str, Obj]:
    ns, name = namespace_of(obj), name_of(obj)
    claims = {}
    for tmpl in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{tmpl['metadata']['name']}-{name}-{ordinal}", "namespace": ns},
            "spec": tmpl.get("spec") or {},
        }
        claims[tmpl["metadata"]["name"]] = claim
    return claims


def observe_statefulset(cluster: Cluster, obj: Obj) -> Observed:
    spec = dict(_template_spec(obj))
    claims = _claim_templates(obj)
    # the claim templates' volumes are mounted by name: give the pod a claim volume for each
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") not in claims] + [
        {"name": n, "persistentVolumeClaim": {"claimName": n}} for n in claims
    ]
    replicas = int(obj["spec"].get("replicas", 1))
    problems = pod_problems(cluster, namespace_of(obj), spec, claims)
    revision = f"{name_of(obj)}-{generation(obj)}"
    ready = 0 if problems else replicas
    status = {
        "observedGeneration": generation(obj),
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": replicas,
        "updatedReplicas": replicas,
        "currentRevision": revision,
        "updateRevision": revision,
    }
    cause = ("pods never turn ready: " + "; ".join(problems)) if problems else f"{replicas} pods ready"
    return Observed(status, cause)


def observe_job(cluster: Cluster, obj: Obj) -> Observed:
    spec = obj.get("spec") or {}
    if spec.get("suspend"):
        return Observed(
            {"conditions": [{"type": "Suspended", "status": "True", "message": "Job suspended"}]},
            "spec.suspend is true",
        )
    problems = pod_problems(cluster, namespace_of(obj), _template_spec(obj))
    if not problems:
        return Observed(
            {
                "succeeded": 1,
                "conditions": [
                    {
                        "type": "Complete",
                        "status": "True",
                        "message": "Reached expected number of succeeded pods",
                    }
                ],
            },
            "its pod ran to completion",
        )
    cause = "its pod never starts: " + "; ".join(problems)
    if spec.get("activeDeadlineSeconds") is not None:
        return Observed(
            {
                "failed": 1,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "DeadlineExceeded",
                        "message": "Job was active longer than specified deadline",
                    }
                ],
            },
            f"{cause}; fails after activeDeadlineSeconds={spec['activeDeadlineSeconds']}",
        )
    return Observed({"active": 1}, cause + "; no activeDeadlineSeconds, so it waits forever")


def observe_daemonset(cluster: Cluster, obj: Obj) -> Observed:
    problems = pod_problems(cluster, namespace_of(obj), _template_spec(obj))
    nodes = 1
    ready = 0 if problems else nodes
    return Observed(
        {
            "observedGeneration": generation(obj),
            "desiredNumberScheduled": nodes,
            "updatedNumberScheduled": nodes,
            "numberAvailable": ready,
            "numberReady": ready,
        },
        "; ".join(problems) or "one pod per node ready",
    )


def observe_service(cluster: Cluster, obj: Obj) -> Observed:
    if obj["spec"].get("type") != "LoadBalancer":
        return Observed({}, f"type {obj['spec'].get('type')}")
    address = cluster.profile.load_balancer
    if address is None:
        return Observed(
            {"loadBalancer": {}},
            f"no load balancer on the {cluster.profile.name} profile gives the Service an address",
        )
    return Observed({"loadBalancer": {"ingress": [{"hostname": address}]}}, "the cloud's load balancer")


def observe_ingress(cluster: Cluster, obj: Obj) -> Observed:
    spec = obj.get("spec") or {}
    cls = spec.get("ingressClassName") or (obj["metadata"].get("annotations") or {}).get(
        "kubernetes.io/ingress.class"
    )
    served_by = [c for c in cluster.controllers if c == f"ingress-class:{cls}"]
    if not served_by:
        return Observed(
            {"loadBalancer": {}},
            f'no Ingress controller for class "{cls}" runs on the {cluster.profile.name} '
            "profile, so nothing publishes an address",
        )
    return Observed(None, f"ingress class {cls}", unknown="the model does not simulate Ingress controllers")


def observe_pdb(cluster: Cluster, obj: Obj) -> Observed:
    """The disruption controller: with no pods yet (or too few) DisruptionAllowed is False with
    reason InsufficientPods, else True with SufficientPods."""
    spec, ns = obj.get("spec") or {}, namespace_of(obj)
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    expected = 0
    for group, kind in (("apps", "Deployment"), ("apps", "StatefulSet"), ("argoproj.io", "Rollout")):
        for w in cluster.find(group, kind, ns):
            pod_labels = (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
                "labels"
            ) or {}
            if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
                expected += int(w["spec"].get("replicas", 1))
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if isinstance(max_unavailable, str) or isinstance(min_available, str):
        return Observed(None, "percent budgets", unknown="the model does not compute percentage budgets")
    desired = max(0, expected - max_unavailable) if max_unavailable is not None else int(min_available or 0)
    allowed = max(0, expected - desired)
    reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
    return Observed(
        {
            "observedGeneration": generation(obj),
            "expectedPods": expected,
            "currentHealthy": expected,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "conditions": [
                {"type": "DisruptionAllowed", "status": "True" if allowed else "False", "reason": reason}
            ],
        },
        f"{expected} matching pods expected",
    )


# ---- shared by the controllers' status modules -----------------------------------------


def generation(obj: Obj) -> int:
    return int(obj.get("metadata", {}).get("generation", 1))


def new_condition(ctype: str, ok: bool, reason: str, message: str, gen: int) -> dict[str, Any]:
    """A metav1.Condition as controllers write it (observedGeneration = the spec they saw)."""
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
    }


def default_status(cluster: Cluster, obj: Obj, why: str) -> Observed:
    """No controller acts on obj: it keeps what its CRD defaults .status to, if anything."""
    served = cluster.served.get((obj["apiVersion"].split("/")[0], obj["kind"]))
    default = served.status_default if served else None
    return Observed(json.loads(json.dumps(default)) if default else None, why)


OBSERVERS = {
    ("apps", "Deployment"): observe_deployment,
    ("apps", "StatefulSet"): observe_statefulset,
    ("apps", "DaemonSet"): observe_daemonset,
    ("batch", "Job"): observe_job,
    ("", "PersistentVolumeClaim"): observe_pvc,
    ("", "Service"): observe_service,
    ("networking.k8s.io", "Ingress"): observe_ingress,
    ("policy", "PodDisruptionBudget"): observe_pdb,
}
