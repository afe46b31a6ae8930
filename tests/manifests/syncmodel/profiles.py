"""The clusters the model bootstraps: facts about each that no file in Git states.

laptop: kind (Kubernetes 1.32): one node with an InternalIP, the default StorageClass
  `standard` (rancher.io/local-path, WaitForFirstConsumer), no LoadBalancer addresses, no
  Ingress controller, no cloud credentials of any kind, no RuntimeClass. Only what `apps/`
  installs runs there.
eks: a fresh EKS cluster: LoadBalancer Services get a hostname (the in-tree cloud provider);
  the StorageClass gp2 exists but is not the default and needs the EBS CSI driver (migrated
  in-tree plugin), which only an add-on in Git installs; IRSA works for a service account
  annotated with a role ARN (the OIDC provider and roles are made outside Git), and EKS Pod
  Identity for the associations listed below (also made outside Git). AWS Secrets Manager
  holds every value an ExternalSecret asks for, except the one that would fill
  ANTHROPIC_API_KEY: an operator who uses one LLM provider stores one key (issue 13, point 3).

Both: every image the overlays name can be pulled. Whether the first-party tags are published
is another test's concern (the supply engineer's image test), so here it is a fact; a unit
test turns it off to show what a missing image does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.manifests.syncmodel.objects import Obj

IN_CLUSTER = "https://kubernetes.default.svc"


def _ns(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _storage_class(name: str, provisioner: str, default: bool, binding: str) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": provisioner,
        "volumeBindingMode": binding,
    }


@dataclass(frozen=True)
class Aws:
    irsa: bool  # IRSA: a pod's service account annotated eks.amazonaws.com/role-arn gets credentials
    pod_identity: frozenset[tuple[str, str]]  # (namespace, service account) associations
    # Secrets Manager has every remote value an ExternalSecret names, except those that would
    # fill these Kubernetes Secret keys
    missing_secret_keys: frozenset[str]


@dataclass(frozen=True)
class Profile:
    name: str
    # the Application files a person applies by hand after Argo CD; the first that exists
    roots: tuple[str, ...]
    storage: tuple[Obj, ...]
    provisioners: frozenset[str]  # volume provisioners that work without an add-on
    load_balancer: str | None  # the address a LoadBalancer Service gets, if any
    node_addresses: bool = True
    aws: Aws | None = None
    namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")
    image_pullable: Callable[[str], bool] = field(default=lambda image: True)
    extra: dict[str, Any] = field(default_factory=dict)

    def initial_objects(self) -> list[Obj]:
        return [_ns(n) for n in self.namespaces] + [dict(s) for s in self.storage]


LAPTOP = Profile(
    name="laptop",
    roots=("apps/root.yaml",),
    storage=(_storage_class("standard", "rancher.io/local-path", True, "WaitForFirstConsumer"),),
    provisioners=frozenset({"rancher.io/local-path"}),
    load_balancer=None,
    namespaces=("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"),
)

EKS = Profile(
    name="eks",
    roots=("apps/root-eks.yaml", "apps/root.yaml"),
    storage=(_storage_class("gp2", "kubernetes.io/aws-ebs", False, "WaitForFirstConsumer"),),
    provisioners=frozenset(),
    load_balancer="k8s-agentsys-0123456789.elb.eu-west-1.amazonaws.com",
    aws=Aws(
        irsa=True,
        pod_identity=frozenset({("external-secrets", "external-secrets")}),
        missing_secret_keys=frozenset({"ANTHROPIC_API_KEY"}),
    ),
)

PROFILES = {p.name: p for p in (LAPTOP, EKS)}
