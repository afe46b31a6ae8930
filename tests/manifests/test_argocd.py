"""Argo CD: the environments are data (argocd/environments) that the ApplicationSet turns into
one Application per environment the bootstrap profile enables (laptop: apps/, EKS: apps/eks),
each on the cluster its file names; the AppProjects allow exactly what is used; the add-ons
are pinned (to the versions whose CRDs the tests validate against, where we have them) and
ordered so that each wave's needs exist before it; argocd/install pins the upstream manifest.
Nothing is fetched: remote sources are checked as addresses, not downloaded."""

from __future__ import annotations

import fnmatch
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.manifests.support import (
    ENVS,
    PROFILES,
    REPO,
    Render,
    TemplateError,
    environment_files,
    expand_applicationset,
    go_template,
    group_of,
    render,
    validate_custom,
)

ARGOCD_VERSION = "v3.5.1"
IN_CLUSTER = "https://kubernetes.default.svc"
# every add-on's pinned version; where ../shared/crds holds its CRDs, the same version
PINS = {
    "gateway-api-crds": "v1.6.1",
    "envoy-gateway-crds": "v1.9.0",
    "envoy-gateway": "v1.9.0",
    "keda": "2.20.2",
    "external-secrets": "2.9.0",
    "argo-rollouts": "v1.9.1",
    "prometheus-operator-crds": "31.0.1",
    "kube-prometheus-stack": "88.5.3",
    "aws-ebs-csi-driver": "2.64.0",
}
# add-ons whose source is this repository: pinned by being in the same commit
OWN = {"edge": "apps/edge/laptop", "secret-store": "apps/secret-store"}
PROFILE_ENVS = {"laptop": {"dev", "staging"}, "eks": {"dev", "staging", "prod"}}


def load(path: str) -> Any:
    docs = [d for d in yaml.safe_load_all((REPO / path).read_text()) if d]
    return docs[0] if len(docs) == 1 else docs


def wave(doc: dict[str, Any]) -> int:
    return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


@pytest.fixture(scope="module")
def profiles() -> dict[str, Render]:
    """What each root Application syncs, rendered (no remote resource in either)."""
    return {name: render(REPO / path) for name, path in PROFILES.items()}


@pytest.fixture(scope="module")
def generated(profiles: dict[str, Render]) -> dict[str, dict[str, dict[str, Any]]]:
    """profile -> environment -> the Application its ApplicationSet generates."""
    return {
        name: expand_applicationset(r.get("ApplicationSet", "agent-system")) for name, r in profiles.items()
    }


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return load("argocd/project.yaml")


# --- environments as data ------------------------------------------------------------------


def test_every_environment_file_is_an_overlay() -> None:
    files = environment_files("argocd/environments/*.yaml")
    assert sorted(p.stem for p in files) == sorted(ENVS)
    for path in files:
        data = yaml.safe_load(path.read_text())
        assert set(data) == {"environment", "server", "profiles", "kedaWorker"}, path.name
        assert data["environment"] == path.stem
        assert (REPO / "overlays" / path.stem / "kustomization.yaml").is_file()
        assert set(data["profiles"]) == set(PROFILES) and all(
            isinstance(v, bool) for v in data["profiles"].values()
        ), "a profile is true or false"
        assert isinstance(data["kedaWorker"], bool)
        assert urlparse(data["server"]).scheme == "https"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_brings_up_its_environments(
    generated: dict[str, dict[str, dict[str, Any]]], profile: str
) -> None:
    """The laptop profile only what can be Healthy on any cluster (prod needs the EKS
    profile's secret store); every Application goes to the cluster its file names."""
    apps = generated[profile]
    assert set(apps) == PROFILE_ENVS[profile]
    for env, app in apps.items():
        data = yaml.safe_load((REPO / "argocd" / "environments" / f"{env}.yaml").read_text())
        assert app["metadata"]["name"] == f"agent-system-{env}"
        assert app["spec"]["source"]["path"] == f"overlays/{env}"
        assert app["spec"]["destination"] == {"server": data["server"], "namespace": f"agent-system-{env}"}
        validate_custom(app)


def test_moving_an_environment_is_one_line_of_data(tmp_path: Path) -> None:
    """The cluster comes from the file: another server in prod.yaml, and only prod moves."""
    folder = tmp_path / "argocd" / "environments"
    folder.mkdir(parents=True)
    for path in environment_files("argocd/environments/*.yaml"):
        text = path.read_text()
        if path.stem == "prod":
            text = text.replace(f"server: {IN_CLUSTER}", "server: https://prod.example.eks.amazonaws.com")
        (folder / path.name).write_text(text)
    appset = load("argocd/applicationset.yaml")
    appset["spec"]["generators"][0]["selector"] = {"matchLabels": {"profiles.eks": "true"}}
    apps = expand_applicationset(appset, root=tmp_path)
    servers = {env: app["spec"]["destination"]["server"] for env, app in apps.items()}
    assert servers == {
        "dev": IN_CLUSTER,
        "staging": IN_CLUSTER,
        "prod": "https://prod.example.eks.amazonaws.com",
    }


def test_each_generated_path_renders_into_its_namespace(
    generated: dict[str, dict[str, dict[str, Any]]], rendered: dict[str, Render]
) -> None:
    for env, app in generated["eks"].items():
        result = rendered[env]
        assert result.path == REPO / app["spec"]["source"]["path"]
        namespaces = {d["metadata"].get("namespace") for d in result.docs if d["kind"] != "Namespace"}
        assert namespaces == {app["spec"]["destination"]["namespace"]}


def test_sync_policy(generated: dict[str, dict[str, dict[str, Any]]], rendered: dict[str, Render]) -> None:
    appset = load("argocd/applicationset.yaml")
    assert appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True
    for env, app in generated["eks"].items():
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"enabled": True, "prune": True, "selfHeal": True}
        assert {"CreateNamespace=true", "ServerSideApply=true", "RespectIgnoreDifferences=true"} <= set(
            policy["syncOptions"]
        )
        # the namespace Argo CD creates carries the same Pod Security labels as the overlay's
        ns = rendered[env].get("Namespace", f"agent-system-{env}")
        pss = {
            k: v for k, v in ns["metadata"]["labels"].items() if k.startswith("pod-security.kubernetes.io/")
        }
        assert len(pss) == 4
        assert policy["managedNamespaceMetadata"]["labels"] == pss


def test_argo_cd_leaves_keda_owned_replicas_alone(
    generated: dict[str, dict[str, dict[str, Any]]], rendered: dict[str, Render]
) -> None:
    """Wherever a ScaledObject scales a Deployment (and only there: the environment file's
    kedaWorker), the Application ignores that Deployment's /spec/replicas, and
    RespectIgnoreDifferences keeps syncs from writing it; elsewhere a replica change in Git
    must still sync, so nothing is ignored."""
    for env, app in generated["eks"].items():
        scaled = {so["spec"]["scaleTargetRef"]["name"] for so in rendered[env].of_kind("ScaledObject")}
        ignored = {
            i["name"]
            for i in app["spec"].get("ignoreDifferences", [])
            if i["kind"] == "Deployment"
            and i["group"] == "apps"
            and "/spec/replicas" in i.get("jsonPointers", [])
        }
        assert ignored == scaled, env
        data = yaml.safe_load((REPO / "argocd" / "environments" / f"{env}.yaml").read_text())
        assert data["kedaWorker"] == ("worker" in scaled), env
        for item in app["spec"].get("ignoreDifferences", []):
            assert item["namespace"] == f"agent-system-{env}"
    assert {so["spec"]["scaleTargetRef"]["name"] for so in rendered["prod"].of_kind("ScaledObject")} == {
        "worker"
    }


def test_template_evaluator_enforces_missingkey_error() -> None:
    with pytest.raises(TemplateError):
        go_template("{{ .path.nope }}", {"path": {"basename": "dev"}})
    assert go_template('a{{- if eq .x "y" }} b{{- else }} c{{- end }}', {"x": "y"}) == "a b"
    assert go_template('a{{- if eq .x "y" }} b{{- else }} c{{- end }}', {"x": "z"}) == "a c"
    assert go_template("{{- if .k }}on{{- end }}", {"k": False}) == ""


# --- the agent-system project ----------------------------------------------------------------


def test_project_whitelist_is_exactly_the_kinds_used(
    project: dict[str, Any], every_render: list[Render]
) -> None:
    spec = project["spec"]
    allowed_ns = {(w["group"], w["kind"]) for w in spec["namespaceResourceWhitelist"]}
    allowed_cluster = {(w["group"], w["kind"]) for w in spec["clusterResourceWhitelist"]}
    used = {(group_of(d), d["kind"]) for r in every_render for d in r.docs}
    used_cluster = {k for k in used if k[1] == "Namespace"}
    assert used - used_cluster == allowed_ns, (
        f"unused: {allowed_ns - used}, missing: {(used - used_cluster) - allowed_ns}"
    )
    assert allowed_cluster == used_cluster == {("", "Namespace")}
    validate_custom(project)


def test_project_limits_sources_and_destinations(
    project: dict[str, Any], generated: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """This repository only, and only agent-system-* namespaces (on any cluster Argo CD has
    registered: which one is the environment file's choice)."""
    spec = project["spec"]
    appset = load("argocd/applicationset.yaml")
    assert spec["sourceRepos"] == [appset["spec"]["generators"][0]["git"]["repoURL"]]
    assert [d["namespace"] for d in spec["destinations"]] == ["agent-system-*"]
    for apps in generated.values():
        for env, app in apps.items():
            assert app["spec"]["project"] == project["metadata"]["name"]
            assert app["spec"]["source"]["repoURL"] in spec["sourceRepos"]
            dest = app["spec"]["destination"]
            assert any(
                fnmatch.fnmatch(dest["server"], d["server"])
                and fnmatch.fnmatch(dest["namespace"], d["namespace"])
                for d in spec["destinations"]
            ), env


# --- the bootstrap: roots, profiles, add-ons ----------------------------------------------------


@pytest.mark.parametrize(("root", "profile"), [("apps/root.yaml", "laptop"), ("apps/root-eks.yaml", "eks")])
def test_root_app_of_apps(root: str, profile: str) -> None:
    app = load(root)
    appset = load("argocd/applicationset.yaml")
    assert app["kind"] == "Application" and app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"]["path"] == PROFILES[profile]
    assert app["spec"]["source"]["repoURL"] == appset["spec"]["template"]["spec"]["source"]["repoURL"]
    assert "finalizers" not in app["metadata"], "deleting the root app must not cascade into the environments"
    validate_custom(app)


ADDONS = {
    "laptop": {
        "gateway-api-crds",
        "envoy-gateway-crds",
        "envoy-gateway",
        "edge",
        "keda",
        "external-secrets",
        "argo-rollouts",
        "prometheus-operator-crds",
    },
}
ADDONS["eks"] = ADDONS["laptop"] | {"aws-ebs-csi-driver", "kube-prometheus-stack", "secret-store"}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_holds_the_addons_the_projects_and_the_applicationset(
    profiles: dict[str, Render], profile: str
) -> None:
    r = profiles[profile]
    names = sorted((d["kind"], d["metadata"]["name"]) for d in r.docs)
    assert names == sorted(
        [("AppProject", "agent-system"), ("AppProject", "cluster-addons"), ("ApplicationSet", "agent-system")]
        + [("Application", a) for a in ADDONS[profile]]
    )


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_addons_come_in_the_order_they_need(profiles: dict[str, Render], profile: str) -> None:
    """The root waits for each wave's Applications to be Healthy before the next, so each
    add-on must come after what it needs: CRDs before the controllers and objects using
    them, ESO before its store, Envoy Gateway before the class, all before the
    environments' project and ApplicationSet (the last wave, not waited on)."""
    r = profiles[profile]
    w = {d["metadata"]["name"]: wave(d) for d in r.of_kind("Application")}
    needs = {
        "envoy-gateway": {"gateway-api-crds", "envoy-gateway-crds"},
        "edge": {"envoy-gateway", "gateway-api-crds", "envoy-gateway-crds"},
        "secret-store": {"external-secrets"},
        "kube-prometheus-stack": {"prometheus-operator-crds"},
    }
    for app, before in needs.items():
        for other in before & set(w):
            if app in w:
                assert w[other] < w[app], f"{other} must sync before {app}"
    addon_project = r.get("AppProject", "cluster-addons")
    project = r.get("AppProject", "agent-system")
    appset = r.get("ApplicationSet", "agent-system")
    assert wave(addon_project) < min(w.values())
    assert max(w.values()) < wave(project) < wave(appset)
    assert wave(appset) == max(wave(d) for d in r.docs)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_addons_are_pinned(profiles: dict[str, Render], profile: str) -> None:
    r = profiles[profile]
    addon_project = r.get("AppProject", "cluster-addons")
    root_repo = load("apps/root.yaml")["spec"]["source"]["repoURL"]
    for app in r.of_kind("Application"):
        name = app["metadata"]["name"]
        source = app["spec"]["source"]
        if name in OWN:
            assert source["repoURL"] == root_repo and source["targetRevision"] == "main", name
            assert (REPO / source["path"] / "kustomization.yaml").is_file(), name
        else:
            assert source["targetRevision"] == PINS[name], name
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", source["targetRevision"]), name
        if source["repoURL"].startswith("oci://"):
            assert source["path"] == ".", f"{name}: an OCI Helm chart is the artifact's root"
        assert source["repoURL"] in addon_project["spec"]["sourceRepos"], name
        assert app["spec"]["project"] == "cluster-addons"
        dest = app["spec"]["destination"]
        assert dest["server"] == IN_CLUSTER
        assert dest["namespace"] in {d["namespace"] for d in addon_project["spec"]["destinations"]}, name
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"], name
        validate_custom(app)
    # deleting a CRD deletes every object of its kind: CRD-only add-ons never prune
    for name in ("gateway-api-crds", "envoy-gateway-crds", "prometheus-operator-crds"):
        assert r.get("Application", name)["spec"]["syncPolicy"]["automated"]["prune"] is False
    assert r.get("Application", "gateway-api-crds")["spec"]["source"]["path"] == "config/crd/standard"
    # Argo Rollouts' Git manifests say :latest: the Application pins the image to its tag
    rollouts = r.get("Application", "argo-rollouts")["spec"]["source"]
    assert rollouts["kustomize"]["images"] == [f"quay.io/argoproj/argo-rollouts:{PINS['argo-rollouts']}"]
    validate_custom(addon_project)


def test_crds_come_from_one_addon_each(profiles: dict[str, Render]) -> None:
    """Envoy Gateway's and kube-prometheus-stack's charts bundle CRDs that other add-ons
    already install: two Applications owning one CRD would fight over it."""
    eks = profiles["eks"]
    gw = eks.get("Application", "envoy-gateway")["spec"]["source"]["helm"]
    assert gw["skipCrds"] is True and gw["valuesObject"]["crds"]["enabled"] is False
    gw_crds = eks.get("Application", "envoy-gateway-crds")["spec"]["source"]["helm"]["valuesObject"]["crds"]
    assert gw_crds == {"gatewayAPI": {"enabled": False}, "envoyGateway": {"enabled": True}}
    kps = eks.get("Application", "kube-prometheus-stack")["spec"]["source"]["helm"]
    assert kps["skipCrds"] is True and kps["valuesObject"]["crds"]["enabled"] is False


def test_pins_match_the_crds_the_tests_validate_against() -> None:
    readme = REPO.parent / "shared" / "crds" / "README.md"
    if not readme.exists():  # a clone without ../shared: the same pins live in shared_data
        from tests.shared_data import CRD_UPSTREAM

        text = " ".join(CRD_UPSTREAM.values())
    else:
        text = readme.read_text()
    assert f"Argo CD (manifests/crds) | {ARGOCD_VERSION}" in text or f"argo-cd/{ARGOCD_VERSION}/" in text
    assert "v" + PINS["keda"] in text
    assert "v" + PINS["external-secrets"] in text
    assert PINS["gateway-api-crds"] in text
    assert PINS["argo-rollouts"] in text


def test_eks_profile_storage_and_prometheus(profiles: dict[str, Render]) -> None:
    """A default gp3 StorageClass for the PVCs; a Prometheus that scrapes every PodMonitor,
    at the one address the canary analysis queries."""
    eks = profiles["eks"]
    ebs = eks.get("Application", "aws-ebs-csi-driver")
    (sc,) = ebs["spec"]["source"]["helm"]["valuesObject"]["storageClasses"]
    assert sc["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["parameters"]["type"] == "gp3" and sc["volumeBindingMode"] == "WaitForFirstConsumer"
    kps = eks.get("Application", "kube-prometheus-stack")
    spec = kps["spec"]["source"]["helm"]["valuesObject"]["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    template = load("base/components/rollouts/analysistemplate.yaml")
    (metric,) = template["spec"]["metrics"]
    release, namespace = kps["spec"]["source"]["helm"]["releaseName"], kps["spec"]["destination"]["namespace"]
    assert metric["provider"]["prometheus"]["address"] == f"http://{release}-prometheus.{namespace}.svc:9090"
    assert namespace == "monitoring", "base/policies lets the namespace monitoring scrape the services"
    laptop = profiles["laptop"].of_kind("Application")
    assert "monitoring" not in {d["spec"]["destination"]["namespace"] for d in laptop}


def test_edge_gives_the_gateways_an_address_in_each_profile(profiles: dict[str, Render]) -> None:
    """The GatewayClass every Gateway names, and an EnvoyProxy Service type the profile can
    address: a ClusterIP anywhere (Envoy Gateway reports it; a LoadBalancer on kind never gets
    one), a load balancer on EKS."""
    assert profiles["laptop"].get("Application", "edge")["spec"]["source"]["path"] == OWN["edge"]
    assert profiles["eks"].get("Application", "edge")["spec"]["source"]["path"] == "apps/edge/eks"
    service_type = {}
    for profile, path in (("laptop", "apps/edge/laptop"), ("eks", "apps/edge/eks")):
        r = render(REPO / path)
        (gc,) = r.of_kind("GatewayClass")
        validate_custom(gc)
        assert gc["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
        proxy = r.get("EnvoyProxy", gc["spec"]["parametersRef"]["name"])
        namespace = gc["spec"]["parametersRef"]["namespace"]
        assert proxy["metadata"]["namespace"] == namespace == "envoy-gateway-system"
        service_type[profile] = proxy["spec"]["provider"]["kubernetes"]["envoyService"]["type"]
    assert service_type == {"laptop": "ClusterIP", "eks": "LoadBalancer"}
    gateway = load("base/components/httproute/gateway.yaml")
    assert gateway["spec"]["gatewayClassName"] == gc["metadata"]["name"]


def test_secret_store_authenticates_by_one_choice() -> None:
    """One line picks the auth: Pod Identity gives the store no auth block (ESO uses the
    controller's own credentials; a serviceAccountRef cannot work with Pod Identity), IRSA a
    jwt serviceAccountRef to a service account annotated with the role."""
    k = load("apps/secret-store/kustomization.yaml")
    assert k["resources"] == ["clustersecretstore.yaml"]
    assert len(k["components"]) == 1 and k["components"][0] in {"auth/pod-identity", "auth/irsa"}
    folder = REPO / "test-artifacts" / "manifests" / "secret-store"
    stores = {}
    for auth in ("pod-identity", "irsa"):
        # a copy with the one line switched (kustomize reads nothing above its folder)
        sub = folder / auth
        shutil.rmtree(sub, ignore_errors=True)
        shutil.copytree(REPO / "apps" / "secret-store", sub)
        (sub / "kustomization.yaml").write_text(
            re.sub(r"- auth/[\w-]+", f"- auth/{auth}", (sub / "kustomization.yaml").read_text())
        )
        r = render(sub)
        store = r.get("ClusterSecretStore", "agent-system")
        validate_custom(store)
        assert store["spec"]["provider"]["aws"]["service"] == "SecretsManager"
        assert store["metadata"]["annotations"]["agent-system/aws-auth"] == auth
        stores[auth] = (store, r)
    pod_identity, _ = stores["pod-identity"]
    assert "auth" not in pod_identity["spec"]["provider"]["aws"]
    irsa, r = stores["irsa"]
    ref = irsa["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]
    sa = r.get("ServiceAccount", ref["name"])
    assert sa["metadata"]["namespace"] == ref["namespace"] == "external-secrets"
    role = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\w+:role/[\w+=,.@-]+", role)
    # the store serves exactly the namespaces whose overlays use it
    (cond,) = pod_identity["spec"]["conditions"]
    (expr,) = cond["namespaceSelector"]["matchExpressions"]
    users = {
        f"agent-system-{env}"
        for env in ENVS
        if "external-secrets" in (REPO / "overlays" / env / "kustomization.yaml").read_text()
    }
    assert users <= set(expr["values"])


def test_install_pins_the_upstream_manifest() -> None:
    k = load("argocd/install/kustomization.yaml")
    assert k["namespace"] == "argocd"
    remote = [r for r in k["resources"] if "://" in r]
    assert remote == [
        f"https://raw.githubusercontent.com/argoproj/argo-cd/{ARGOCD_VERSION}/manifests/install.yaml"
    ]
    for local in (r for r in k["resources"] if "://" not in r):
        assert (REPO / "argocd" / "install" / local).is_file(), local
    for patch in k["patches"]:
        doc = load(f"argocd/install/{patch['path']}")
        # the upstream manifest holds these ConfigMaps; a strategic merge patch needs the name
        assert (doc["kind"], doc["metadata"]["name"]) in {
            ("ConfigMap", "argocd-cm"),
            ("ConfigMap", "argocd-cmd-params-cm"),
        }
        assert doc["metadata"]["namespace"] == "argocd"
    cm = load("argocd/install/argocd-cm.yaml")["data"]
    # the app of apps' waves wait on the add-on Applications' health only with this
    assert "resource.customizations.health.argoproj.io_Application" in cm


def test_every_repo_url_is_the_same_placeholder() -> None:
    """One repository URL everywhere, so forking means one search-and-replace (README)."""
    urls = set()
    for path in [*REPO.joinpath("argocd").rglob("*.yaml"), *REPO.joinpath("apps").rglob("*.yaml")]:
        urls.update(re.findall(r"https://github\.com/[^\s\"']+/agent-system\.git", path.read_text()))
    assert urls == {"https://github.com/OWNER/agent-system.git"}


def test_optional_cluster_objects_are_valid() -> None:
    runtime = load("apps/optional/runtimeclass-gvisor.yaml")
    assert (runtime["kind"], runtime["metadata"]["name"]) == ("RuntimeClass", "gvisor")


def test_kustomization_folders_have_no_remote_bases_except_argocd_install() -> None:
    roots = ("base", "overlays", "argocd", "apps")
    found = [p for root in roots for p in (REPO / root).rglob("kustomization.yaml")]
    assert len(found) >= 20
    for path in found:
        rel = path.relative_to(REPO)
        if rel == Path("argocd/install/kustomization.yaml"):
            continue
        doc = yaml.safe_load(path.read_text())
        for res in doc.get("resources", []):
            assert "://" not in res and not res.startswith("github.com"), f"{rel}: {res}"
