"""What an Application whose source lies outside this repository installs.

The model cannot render upstream charts offline, so each known source is described by what
its pinned release installs: CRDs (group, kind, served versions, scope), controllers, and the
kinds it creates (for the AppProject's permission check). A source not listed here, or pinned
to a version not listed, is reported as unknown: the model never guesses what it installs.
The facts were read from each project's release at the version named; `crds_file` points at
the ../shared/crds schema where one exists (for the default `status` a CRD gives new objects).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.manifests.syncmodel.objects import Obj
from tests.shared_data import crd_file


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    versions: tuple[str, ...]
    namespaced: bool = True
    crds_file: str | None = None


@dataclass(frozen=True)
class Install:
    """What one source installs with a given Application's values."""

    crds: tuple[Crd, ...] = ()
    controllers: tuple[str, ...] = ()
    cluster_kinds: tuple[tuple[str, str], ...] = ()  # cluster-scoped (group, kind) it creates
    namespaced_kinds: tuple[tuple[str, str], ...] = ()
    requires: tuple[tuple[str, str], ...] = ()  # CRDs that must be served before it starts
    provisioners: tuple[str, ...] = ()  # volume provisioners it adds
    objects: tuple[Obj, ...] = ()  # objects it creates that other Applications depend on
    needs_server_side_apply: bool = False  # a CRD too large for client-side apply's annotation


@dataclass(frozen=True)
class AddOn:
    name: str
    repo_url: str
    chart_or_path: str
    versions: tuple[str, ...]
    facts: str  # where the facts come from
    install: Callable[[dict[str, Any]], Install] = field(repr=False)
    profiles_unhealthy: dict[str, str] = field(default_factory=dict)  # profile -> why it cannot be Healthy


_CONTROLLER_KINDS = (
    ("", "ServiceAccount"),
    ("", "Service"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("apps", "Deployment"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
)
_CLUSTER_RBAC = (
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
)
_CRD_KIND = (("apiextensions.k8s.io", "CustomResourceDefinition"),)
_WEBHOOKS = (
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
)

GATEWAY_API = (
    Crd(
        "gateway.networking.k8s.io",
        "GatewayClass",
        ("v1", "v1beta1"),
        False,
        "gateway.networking.k8s.io_gatewayclasses.yaml",
    ),
    Crd(
        "gateway.networking.k8s.io",
        "Gateway",
        ("v1", "v1beta1"),
        True,
        "gateway.networking.k8s.io_gateways.yaml",
    ),
    Crd(
        "gateway.networking.k8s.io",
        "HTTPRoute",
        ("v1", "v1beta1"),
        True,
        "gateway.networking.k8s.io_httproutes.yaml",
    ),
    Crd("gateway.networking.k8s.io", "GRPCRoute", ("v1",)),
    Crd("gateway.networking.k8s.io", "ReferenceGrant", ("v1beta1",)),
    Crd("gateway.networking.k8s.io", "BackendTLSPolicy", ("v1",)),
)
ENVOY_GATEWAY_CRDS = tuple(
    Crd("gateway.envoyproxy.io", k, ("v1alpha1",))
    for k in (
        "EnvoyProxy",
        "BackendTrafficPolicy",
        "ClientTrafficPolicy",
        "SecurityPolicy",
        "EnvoyExtensionPolicy",
        "EnvoyPatchPolicy",
        "Backend",
        "HTTPRouteFilter",
    )
)
PROMETHEUS_CRDS = tuple(
    Crd("monitoring.coreos.com", k, (v,))
    for k, v in (
        ("ServiceMonitor", "v1"),
        ("PodMonitor", "v1"),
        ("PrometheusRule", "v1"),
        ("Prometheus", "v1"),
        ("Alertmanager", "v1"),
        ("Probe", "v1"),
        ("ThanosRuler", "v1"),
        ("AlertmanagerConfig", "v1alpha1"),
        ("ScrapeConfig", "v1alpha1"),
        ("PrometheusAgent", "v1alpha1"),
    )
)
KEDA_CRDS = (
    Crd("keda.sh", "ScaledObject", ("v1alpha1",), True, "keda.sh_scaledobjects.yaml"),
    Crd("keda.sh", "ScaledJob", ("v1alpha1",)),
    Crd("keda.sh", "TriggerAuthentication", ("v1alpha1",), True, "keda.sh_triggerauthentications.yaml"),
    Crd("keda.sh", "ClusterTriggerAuthentication", ("v1alpha1",), False),
)
ESO_CRDS = (
    Crd("external-secrets.io", "ExternalSecret", ("v1",), True, "external-secrets.io_externalsecrets.yaml"),
    Crd("external-secrets.io", "SecretStore", ("v1",), True, "external-secrets.io_secretstores.yaml"),
    Crd(
        "external-secrets.io",
        "ClusterSecretStore",
        ("v1",),
        False,
        "external-secrets.io_clustersecretstores.yaml",
    ),
    Crd("external-secrets.io", "ClusterExternalSecret", ("v1",), False),
    Crd("external-secrets.io", "PushSecret", ("v1alpha1",)),
)
ROLLOUTS_CRDS = (
    Crd("argoproj.io", "Rollout", ("v1alpha1",), True, "argoproj.io_rollouts.yaml"),
    Crd("argoproj.io", "AnalysisTemplate", ("v1alpha1",), True, "argoproj.io_analysistemplates.yaml"),
    Crd("argoproj.io", "ClusterAnalysisTemplate", ("v1alpha1",), False),
    Crd("argoproj.io", "AnalysisRun", ("v1alpha1",)),
    Crd("argoproj.io", "Experiment", ("v1alpha1",)),
)


def status_default(crd: Crd) -> dict[str, Any] | None:
    """The default the CRD's schema gives .status (the Gateway API's "Waiting for controller")."""
    return _status_default(crd.crds_file) if crd.crds_file else None


@functools.cache
def _status_default(name: str) -> dict[str, Any] | None:
    doc = yaml.load(crd_file(name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    for version in doc["spec"]["versions"]:
        props = ((version.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties") or {}
        if (props.get("status") or {}).get("default"):
            return props["status"]["default"]
    return None


def _values(source: dict[str, Any]) -> dict[str, Any]:
    return ((source.get("helm") or {}).get("valuesObject")) or {}


def _gateway_api(source: dict[str, Any]) -> Install:
    return Install(crds=GATEWAY_API, cluster_kinds=_CRD_KIND)


def _envoy_gateway_crds(source: dict[str, Any]) -> Install:
    crds = _values(source).get("crds", {})
    chosen = (GATEWAY_API if crds.get("gatewayAPI", {}).get("enabled", True) else ()) + (
        ENVOY_GATEWAY_CRDS if crds.get("envoyGateway", {}).get("enabled", True) else ()
    )
    return Install(crds=chosen, cluster_kinds=_CRD_KIND, needs_server_side_apply=True)


def _envoy_gateway(source: dict[str, Any]) -> Install:
    helm = source.get("helm") or {}
    with_crds = not helm.get("skipCrds") and _values(source).get("crds", {}).get("enabled", True)
    return Install(
        crds=(GATEWAY_API + ENVOY_GATEWAY_CRDS) if with_crds else (),
        controllers=("envoy-gateway",),
        cluster_kinds=_CLUSTER_RBAC + _WEBHOOKS + (_CRD_KIND if with_crds else ()),
        namespaced_kinds=_CONTROLLER_KINDS + (("batch", "Job"),),
        requires=()
        if with_crds
        else (("gateway.networking.k8s.io", "GatewayClass"), ("gateway.envoyproxy.io", "EnvoyProxy")),
        needs_server_side_apply=with_crds,
    )


def _prometheus_crds(source: dict[str, Any]) -> Install:
    return Install(crds=PROMETHEUS_CRDS, cluster_kinds=_CRD_KIND, needs_server_side_apply=True)


def _keda(source: dict[str, Any]) -> Install:
    return Install(
        crds=KEDA_CRDS,
        controllers=("keda",),
        cluster_kinds=_CRD_KIND + _CLUSTER_RBAC + _WEBHOOKS + (("apiregistration.k8s.io", "APIService"),),
        namespaced_kinds=_CONTROLLER_KINDS,
        needs_server_side_apply=True,
    )


def _eso(source: dict[str, Any]) -> Install:
    crds = ESO_CRDS if _values(source).get("installCRDs", True) else ()
    return Install(
        crds=crds,
        controllers=("external-secrets",),
        cluster_kinds=_CRD_KIND + _CLUSTER_RBAC + _WEBHOOKS,
        namespaced_kinds=_CONTROLLER_KINDS,
    )


def _rollouts(source: dict[str, Any]) -> Install:
    return Install(
        crds=ROLLOUTS_CRDS,
        controllers=("argo-rollouts",),
        cluster_kinds=_CRD_KIND + _CLUSTER_RBAC,
        namespaced_kinds=_CONTROLLER_KINDS,
    )


def _ebs_csi(source: dict[str, Any]) -> Install:
    """The chart's storageClasses values become StorageClasses of provisioner ebs.csi.aws.com."""
    classes = tuple(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": sc["name"], "annotations": dict(sc.get("annotations") or {})},
            "provisioner": "ebs.csi.aws.com",
            "volumeBindingMode": sc.get("volumeBindingMode", "WaitForFirstConsumer"),
            "parameters": dict(sc.get("parameters") or {}),
        }
        for sc in _values(source).get("storageClasses") or []
    )
    return Install(
        controllers=("aws-ebs-csi-driver",),
        provisioners=("ebs.csi.aws.com",),
        objects=classes,
        cluster_kinds=_CLUSTER_RBAC + (("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "StorageClass")),
        namespaced_kinds=_CONTROLLER_KINDS + (("apps", "DaemonSet"), ("policy", "PodDisruptionBudget")),
    )


def _kube_prometheus_stack(source: dict[str, Any]) -> Install:
    crds_on = (_values(source).get("crds") or {}).get("enabled", True)
    return Install(
        crds=PROMETHEUS_CRDS if crds_on else (),
        controllers=("prometheus-operator",),
        cluster_kinds=_CRD_KIND + _CLUSTER_RBAC + _WEBHOOKS,
        namespaced_kinds=_CONTROLLER_KINDS + (("apps", "DaemonSet"), ("apps", "StatefulSet")),
        requires=() if crds_on else (("monitoring.coreos.com", "Prometheus"),),
        needs_server_side_apply=crds_on,
    )


CATALOGUE = (
    AddOn(
        "gateway-api",
        "https://github.com/kubernetes-sigs/gateway-api.git",
        "config/crd/standard",
        ("v1.6.1",),
        "gateway-api v1.6.1 config/crd/standard",
        _gateway_api,
    ),
    AddOn(
        "envoy-gateway-crds",
        "oci://registry-1.docker.io/envoyproxy/gateway-crds-helm",
        ".",
        ("v1.9.0",),
        "gateway-crds-helm v1.9.0 (values crds.gatewayAPI / crds.envoyGateway)",
        _envoy_gateway_crds,
    ),
    AddOn(
        "envoy-gateway",
        "oci://registry-1.docker.io/envoyproxy/gateway-helm",
        ".",
        ("v1.9.0",),
        "gateway-helm v1.9.0: controller gateway.envoyproxy.io/gatewayclass-controller",
        _envoy_gateway,
    ),
    AddOn(
        "prometheus-operator-crds",
        "https://prometheus-community.github.io/helm-charts",
        "prometheus-operator-crds",
        ("31.0.1",),
        "prometheus-operator-crds 31.0.1",
        _prometheus_crds,
    ),
    AddOn(
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        (),
        "kube-prometheus-stack (any pinned version)",
        _kube_prometheus_stack,
    ),
    AddOn("keda", "https://kedacore.github.io/charts", "keda", ("2.20.2",), "keda chart 2.20.2", _keda),
    AddOn(
        "external-secrets",
        "https://charts.external-secrets.io",
        "external-secrets",
        ("2.9.0",),
        "external-secrets chart 2.9.0 (installCRDs)",
        _eso,
    ),
    AddOn(
        "argo-rollouts",
        "https://github.com/argoproj/argo-rollouts.git",
        "manifests/cluster-install",
        ("v1.9.1",),
        "argo-rollouts v1.9.1 manifests/cluster-install",
        _rollouts,
    ),
    AddOn(
        "aws-ebs-csi-driver",
        "https://kubernetes-sigs.github.io/aws-ebs-csi-driver",
        "aws-ebs-csi-driver",
        (),
        "aws-ebs-csi-driver chart (any pinned version)",
        _ebs_csi,
        profiles_unhealthy={"laptop": "the EBS CSI driver needs EC2 instance metadata and AWS credentials"},
    ),
)

# Gateway API controllerName -> the controller that serves it
GATEWAY_CONTROLLERS = {"gateway.envoyproxy.io/gatewayclass-controller": "envoy-gateway"}


def _norm(url: str) -> str:
    return url.rstrip("/").removesuffix(".git")


def find_addon(source: dict[str, Any]) -> AddOn | None:
    where = source.get("chart") or source.get("path") or "."
    for addon in CATALOGUE:
        if _norm(addon.repo_url) == _norm(source.get("repoURL", "")) and addon.chart_or_path == where:
            return addon
    return None


def is_pinned(revision: str) -> bool:
    """A tag or version, not a branch or HEAD: what Argo CD syncs then never changes under us."""
    floating = ("", "HEAD", "main", "master", "*", "latest")
    return revision not in floating and not any(c in revision for c in "*^~><=x")
