"""A simulated Kubernetes API: which kinds it serves, the objects stored, and what applying
or deleting one does. Controllers' status is computed on read (status_*.py), from what is
stored now: the model asks "what would the cluster have written, given enough time?".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.objects import (
    Key,
    Obj,
    api_group,
    api_version,
    crd_group_kind,
    deep,
    labels,
    meta,
    name_of,
    namespace_of,
)

if TYPE_CHECKING:
    from tests.manifests.syncmodel.profiles import Profile

# Kubernetes 1.32's built-in API: group -> versions served, kind -> namespaced
_CORE: dict[str, tuple[tuple[str, ...], dict[str, bool]]] = {
    "": (
        ("v1",),
        {
            "Namespace": False,
            "Node": False,
            "PersistentVolume": False,
            "ConfigMap": True,
            "Secret": True,
            "Service": True,
            "ServiceAccount": True,
            "Pod": True,
            "Endpoints": True,
            "PersistentVolumeClaim": True,
            "LimitRange": True,
            "ResourceQuota": True,
            "Event": True,
            "ReplicationController": True,
        },
    ),
    "apps": (
        ("v1",),
        {
            "Deployment": True,
            "StatefulSet": True,
            "DaemonSet": True,
            "ReplicaSet": True,
            "ControllerRevision": True,
        },
    ),
    "batch": (("v1",), {"Job": True, "CronJob": True}),
    "networking.k8s.io": (("v1",), {"NetworkPolicy": True, "Ingress": True, "IngressClass": False}),
    "policy": (("v1",), {"PodDisruptionBudget": True}),
    "rbac.authorization.k8s.io": (
        ("v1",),
        {"Role": True, "RoleBinding": True, "ClusterRole": False, "ClusterRoleBinding": False},
    ),
    "storage.k8s.io": (("v1",), {"StorageClass": False, "CSIDriver": False, "VolumeAttachment": False}),
    "autoscaling": (("v1", "v2"), {"HorizontalPodAutoscaler": True}),
    "apiextensions.k8s.io": (("v1",), {"CustomResourceDefinition": False}),
    "admissionregistration.k8s.io": (
        ("v1",),
        {"ValidatingWebhookConfiguration": False, "MutatingWebhookConfiguration": False},
    ),
    "apiregistration.k8s.io": (("v1",), {"APIService": False}),
    "scheduling.k8s.io": (("v1",), {"PriorityClass": False}),
    "node.k8s.io": (("v1",), {"RuntimeClass": False}),
    "coordination.k8s.io": (("v1",), {"Lease": True}),
    "discovery.k8s.io": (("v1",), {"EndpointSlice": True}),
}


@dataclass
class Served:
    versions: set[str]
    namespaced: bool
    installer: str  # "Kubernetes" or who installed the CRD (cited in reports)
    status_default: dict[str, Any] | None = None  # a CRD's schema default for .status


@dataclass
class Stored:
    obj: Obj
    owner: str | None  # the Argo CD Application tracking it (annotation tracking), if any
    order: int  # when it was created: reports list objects in that order


class ApplyError(Exception):
    def __init__(self, message: str, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


@dataclass
class Cluster:
    profile: Profile
    served: dict[tuple[str, str], Served] = field(default_factory=dict)
    objects: dict[Key, Stored] = field(default_factory=dict)
    # controller name -> who installed it (Argo CD itself, an add-on Application)
    controllers: dict[str, str] = field(default_factory=dict)
    # controller name -> (namespace, service account) its pods run as
    identities: dict[str, tuple[str, str]] = field(default_factory=dict)
    # status written by the simulated Argo CD controllers (Applications, ApplicationSets)
    written: dict[Key, dict[str, Any]] = field(default_factory=dict)
    revision: int = 0  # bumped on every change: the simulation stops when nothing changes

    @classmethod
    def fresh(cls, profile: Profile) -> Cluster:
        cluster = cls(profile)
        for group, (versions, kinds) in _CORE.items():
            for kind, namespaced in kinds.items():
                cluster.served[(group, kind)] = Served(set(versions), namespaced, "Kubernetes")
        for obj in profile.initial_objects():
            cluster.store(obj, owner=None)
        return cluster

    # ---- discovery -------------------------------------------------------------------

    def discover(self, group: str, version: str, kind: str) -> Served:
        """kube.ServerResourceForGroupVersionKind: the kind, or the NotFound error Argo CD gets."""
        gv = f"{group}/{version}" if group else version
        served_gv = any(group == g and version in s.versions for (g, _), s in self.served.items())
        if not served_gv:
            raise ApplyError(
                f"failed to discover server resources for group version {gv}: "
                "the server could not find the requested resource",
                not_found=True,
            )
        found = self.served.get((group, kind))
        if found is None or version not in found.versions:
            raise ApplyError(f'{kind}{"." + group if group else ""} "" not found', not_found=True)
        return found

    def namespaced(self, group: str, kind: str) -> bool:
        found = self.served.get((group, kind))
        return True if found is None else found.namespaced

    def key(self, obj: Obj) -> Key:
        group = api_group(obj)
        ns = namespace_of(obj) if self.namespaced(group, obj["kind"]) else ""
        return Key(group, obj["kind"], ns, name_of(obj))

    # ---- objects ---------------------------------------------------------------------

    def get(self, key: Key) -> Obj | None:
        stored = self.objects.get(key)
        return stored.obj if stored else None

    def find(self, group: str, kind: str, namespace: str | None = None) -> Iterator[Obj]:
        for key, stored in self.objects.items():
            if key.group == group and key.kind == kind and (namespace is None or key.namespace == namespace):
                yield stored.obj

    def lookup(self, group: str, kind: str, namespace: str, name: str) -> Obj | None:
        ns = namespace if self.namespaced(group, kind) else ""
        return self.get(Key(group, kind, ns, name))

    def owned_by(self, app: str) -> dict[Key, Obj]:
        return {k: s.obj for k, s in self.objects.items() if s.owner == app}

    def owner_of(self, key: Key) -> str | None:
        stored = self.objects.get(key)
        return stored.owner if stored else None

    def store(self, obj: Obj, owner: str | None) -> Key:
        key = self.key(obj)
        previous = self.objects.get(key)
        self.objects[key] = Stored(obj, owner, previous.order if previous else len(self.objects))
        self.revision += 1
        if crd_group_kind(obj):
            self._establish(obj)
        return key

    def apply(self, obj: Obj, owner: str | None) -> Key:
        """kubectl apply (server-side or not): the object as stored, API defaults filled in."""
        group, kind = api_group(obj), obj["kind"]
        served = self.discover(group, api_version(obj), kind)
        obj = deep(obj)
        if served.namespaced:
            ns = namespace_of(obj)
            if not ns:
                raise ApplyError(f"{kind}/{name_of(obj)}: the namespace of the object is not set")
            if self.lookup("", "Namespace", "", ns) is None:
                raise ApplyError(f'namespaces "{ns}" not found')
        elif "namespace" in obj.get("metadata", {}):
            del obj["metadata"]["namespace"]
        key = self.key(obj)
        live = self.get(key)
        _check_immutable(live, obj)
        apply_defaults(obj, live)
        obj.pop("status", None)  # status is the controllers' (written on read here)
        self.store(obj, owner if owner is not None else (self.owner_of(key)))
        return key

    def delete(self, key: Key) -> bool:
        if self.objects.pop(key, None) is None:
            return False
        self.revision += 1
        return True

    def _establish(self, crd: Obj) -> None:
        group, kind = crd_group_kind(crd) or ("", "")
        versions = {v["name"] for v in crd["spec"].get("versions", []) if v.get("served", True)}
        status_default = None
        for v in crd["spec"].get("versions", []):
            props = ((v.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties") or {}
            status_default = status_default or (props.get("status") or {}).get("default")
        self.served[(group, kind)] = Served(
            versions, crd["spec"].get("scope") == "Namespaced", f"CRD {name_of(crd)}", status_default
        )

    def install_crd(
        self,
        group: str,
        kind: str,
        versions: tuple[str, ...],
        namespaced: bool,
        installer: str,
        status_default: dict[str, Any] | None = None,
    ) -> None:
        """A CRD installed by something the model knows only by its facts (an add-on chart)."""
        self.served[(group, kind)] = Served(set(versions), namespaced, installer, status_default)
        self.revision += 1

    def namespace_labels(self, ns: str) -> dict[str, str]:
        obj = self.lookup("", "Namespace", "", ns)
        return {**labels(obj), "kubernetes.io/metadata.name": ns} if obj else {}


def _check_immutable(live: Obj | None, obj: Obj) -> None:
    """The immutable fields a re-apply most often trips on (a Job's pod template, a
    StatefulSet's volumeClaimTemplates): the API server refuses the update."""
    if live is None:
        return
    spec, live_spec = obj.get("spec", {}), live.get("spec", {})
    if obj["kind"] == "Job" and spec.get("template") != live_spec.get("template"):
        raise ApplyError(
            f'Job.batch "{name_of(obj)}" is invalid: spec.template: Invalid value: field is immutable'
        )
    if obj["kind"] == "StatefulSet" and spec.get("volumeClaimTemplates") != live_spec.get(
        "volumeClaimTemplates"
    ):
        raise ApplyError(
            f'StatefulSet.apps "{name_of(obj)}" is invalid: spec: Forbidden: updates to '
            "statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
            "are forbidden"
        )


def apply_defaults(obj: Obj, live: Obj | None) -> None:
    """The API server's defaults that Argo CD's health checks read, and metadata.generation
    (bumped when anything but metadata and status changed)."""
    kind = obj["kind"]
    spec = obj.setdefault("spec", {}) if kind in _SPEC_KINDS else {}
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        spec.setdefault("replicas", 1)
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
    if kind == "StatefulSet":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    if kind == "Job":
        for name, value in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1)):
            spec.setdefault(name, value)
    if kind == "Service":
        spec.setdefault("type", "ClusterIP")
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    live_body = {k: v for k, v in (live or {}).items() if k not in ("metadata", "status")}
    generation = int((live or {}).get("metadata", {}).get("generation", 0))
    meta(obj)["generation"] = generation + 1 if live is None or body != live_body else generation


_SPEC_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "Job", "Service")
