"""Argo CD: the ApplicationSet expands to exactly dev, staging and prod (each a path that
renders), the AppProject allows exactly what the overlays use, the add-ons are pinned to the
versions whose CRDs the tests validate against, and argocd/install pins the upstream
manifest. Nothing is fetched: argocd/install's URL is checked, not downloaded."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.support import (
    ENVS,
    REPO,
    Render,
    TemplateError,
    deep_merge,
    glob_dirs,
    go_template,
    group_of,
    render,
    render_template,
    validate_custom,
)

ARGOCD_VERSION = "v3.5.1"
# the versions of ../shared/crds (its README): what we install is what we validate against
PINS = {"keda": "2.20.2", "external-secrets": "2.9.0", "gateway-api-crds": "v1.6.1"}


def load(path: str) -> Any:
    docs = [d for d in yaml.safe_load_all((REPO / path).read_text()) if d]
    return docs[0] if len(docs) == 1 else docs


@pytest.fixture(scope="module")
def appset() -> dict[str, Any]:
    return load("argocd/applicationset.yaml")


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return load("argocd/project.yaml")


def expand(appset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the ApplicationSet controller generates: one Application per matched folder."""
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    assert spec["goTemplateOptions"] == ["missingkey=error"]
    (generator,) = spec["generators"]
    git = generator["git"]
    apps = {}
    for entry in git["directories"]:
        if entry.get("exclude"):
            continue
        for folder in glob_dirs(entry["path"]):
            rel = folder.relative_to(REPO)
            params = {
                "path": {
                    "path": str(rel),
                    "basename": folder.name,
                    "basenameNormalized": folder.name,
                    "segments": list(rel.parts),
                }
            }
            app = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                **render_template(spec["template"], params),
            }
            patch_text = go_template(spec.get("templatePatch", ""), params)
            patch = yaml.safe_load(patch_text) or {}
            app = deep_merge(app, patch)
            app["metadata"].setdefault("namespace", appset["metadata"]["namespace"])
            apps[folder.name] = app
    return apps


def test_applicationset_makes_one_application_per_environment(appset: dict[str, Any]) -> None:
    (generator,) = appset["spec"]["generators"]
    assert generator["git"]["directories"] == [{"path": "overlays/*"}]
    apps = expand(appset)
    assert sorted(apps) == sorted(ENVS)
    for env, app in apps.items():
        assert app["metadata"]["name"] == f"agent-system-{env}"
        assert app["spec"]["source"]["path"] == f"overlays/{env}"
        assert app["spec"]["destination"] == {
            "server": "https://kubernetes.default.svc",
            "namespace": f"agent-system-{env}",
        }
        validate_custom(app)


def test_each_generated_path_renders_into_its_namespace(
    appset: dict[str, Any], rendered: dict[str, Render]
) -> None:
    for env, app in expand(appset).items():
        result = rendered[env]
        assert result.path == REPO / app["spec"]["source"]["path"]
        namespaces = {d["metadata"].get("namespace") for d in result.docs if d["kind"] != "Namespace"}
        assert namespaces == {app["spec"]["destination"]["namespace"]}


def test_sync_policy(appset: dict[str, Any], rendered: dict[str, Render]) -> None:
    assert appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True
    for env, app in expand(appset).items():
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
    appset: dict[str, Any], rendered: dict[str, Render]
) -> None:
    """Wherever a ScaledObject scales a Deployment, the Application ignores that Deployment's
    /spec/replicas (and RespectIgnoreDifferences keeps syncs from writing it); elsewhere a
    replica change in Git must still sync, so nothing is ignored."""
    for env, app in expand(appset).items():
        scaled = {so["spec"]["scaleTargetRef"]["name"] for so in rendered[env].of_kind("ScaledObject")}
        ignored = {
            i["name"]
            for i in app["spec"].get("ignoreDifferences", [])
            if i["kind"] == "Deployment"
            and i["group"] == "apps"
            and "/spec/replicas" in i.get("jsonPointers", [])
        }
        assert ignored == scaled, env
        for item in app["spec"].get("ignoreDifferences", []):
            assert item.get("namespace", f"agent-system-{env}") == f"agent-system-{env}"
    assert {so["spec"]["scaleTargetRef"]["name"] for so in rendered["prod"].of_kind("ScaledObject")} == {
        "worker"
    }


def test_template_evaluator_enforces_missingkey_error() -> None:
    with pytest.raises(TemplateError):
        go_template("{{ .path.nope }}", {"path": {"basename": "dev"}})
    assert go_template('a{{- if eq .x "y" }} b{{- else }} c{{- end }}', {"x": "y"}) == "a b"
    assert go_template('a{{- if eq .x "y" }} b{{- else }} c{{- end }}', {"x": "z"}) == "a c"


def _all_rendered_kinds(every_render: list[Render]) -> set[tuple[str, str]]:
    return {(group_of(d), d["kind"]) for r in every_render for d in r.docs}


def test_project_whitelist_is_exactly_the_kinds_used(
    project: dict[str, Any], every_render: list[Render]
) -> None:
    spec = project["spec"]
    allowed_ns = {(w["group"], w["kind"]) for w in spec["namespaceResourceWhitelist"]}
    allowed_cluster = {(w["group"], w["kind"]) for w in spec["clusterResourceWhitelist"]}
    used = _all_rendered_kinds(every_render)
    used_cluster = {k for k in used if k[1] == "Namespace"}
    assert used - used_cluster == allowed_ns, (
        f"unused: {allowed_ns - used}, missing: {(used - used_cluster) - allowed_ns}"
    )
    assert allowed_cluster == used_cluster == {("", "Namespace")}
    validate_custom(project)


def test_project_limits_sources_and_destinations(project: dict[str, Any], appset: dict[str, Any]) -> None:
    spec = project["spec"]
    assert spec["sourceRepos"] == [appset["spec"]["generators"][0]["git"]["repoURL"]]
    for env, app in expand(appset).items():
        assert app["spec"]["project"] == project["metadata"]["name"]
        assert app["spec"]["source"]["repoURL"] in spec["sourceRepos"]
        dest = app["spec"]["destination"]
        assert any(
            d["server"] == dest["server"] and fnmatch.fnmatch(dest["namespace"], d["namespace"])
            for d in spec["destinations"]
        ), env
    assert [d["namespace"] for d in spec["destinations"]] == ["agent-system-*"]


def test_root_app_of_apps(appset: dict[str, Any]) -> None:
    root = load("apps/root.yaml")
    assert root["kind"] == "Application" and root["metadata"]["namespace"] == "argocd"
    assert root["spec"]["source"]["path"] == "apps"
    assert root["spec"]["source"]["repoURL"] == appset["spec"]["template"]["spec"]["source"]["repoURL"]
    assert "finalizers" not in root["metadata"], (
        "deleting the root app must not cascade into the environments"
    )
    validate_custom(root)


@pytest.fixture(scope="module")
def apps_render() -> Render:
    """apps/ (with ../argocd) renders locally: it references no remote resource."""
    return render(REPO / "apps")


def test_apps_holds_the_addons_the_project_and_the_applicationset(apps_render: Render) -> None:
    names = sorted((d["kind"], d["metadata"]["name"]) for d in apps_render.docs)
    assert names == sorted(
        [
            ("AppProject", "agent-system"),
            ("AppProject", "cluster-addons"),
            ("ApplicationSet", "agent-system"),
            ("Application", "keda"),
            ("Application", "external-secrets"),
            ("Application", "gateway-api-crds"),
        ]
    )

    def wave(d: dict[str, Any]) -> int:
        return int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])

    addons = [d for d in apps_render.docs if d["kind"] == "Application"]
    appset = apps_render.get("ApplicationSet", "agent-system")
    project = apps_render.get("AppProject", "agent-system")
    addon_project = apps_render.get("AppProject", "cluster-addons")
    # the add-ons (their CRDs) and the projects exist before the environments are generated
    assert wave(addon_project) < min(map(wave, addons)) < wave(project) < wave(appset)


def test_addons_are_pinned(apps_render: Render) -> None:
    addon_project = apps_render.get("AppProject", "cluster-addons")
    for app in apps_render.of_kind("Application"):
        name = app["metadata"]["name"]
        source = app["spec"]["source"]
        assert source["targetRevision"] == PINS[name], name
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", source["targetRevision"]), name
        assert source["repoURL"] in addon_project["spec"]["sourceRepos"]
        assert app["spec"]["project"] == "cluster-addons"
        dest_ns = app["spec"]["destination"]["namespace"]
        assert dest_ns in {d["namespace"] for d in addon_project["spec"]["destinations"]}
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
        validate_custom(app)
    gw = apps_render.get("Application", "gateway-api-crds")
    assert gw["spec"]["source"]["path"] == "config/crd/standard"
    assert gw["spec"]["syncPolicy"]["automated"]["prune"] is False


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
    assert "resource.customizations.health.argoproj.io_Application" in cm


def test_every_repo_url_is_the_same_placeholder() -> None:
    """One repository URL everywhere, so forking means one search-and-replace (README)."""
    urls = set()
    for path in [*REPO.joinpath("argocd").rglob("*.yaml"), *REPO.joinpath("apps").rglob("*.yaml")]:
        urls.update(re.findall(r"https://github\.com/[^\s\"']+/agent-system\.git", path.read_text()))
    assert urls == {"https://github.com/OWNER/agent-system.git"}


def test_optional_cluster_objects_are_valid() -> None:
    store = load("apps/optional/clustersecretstore-aws.yaml")
    assert store["metadata"]["name"] == "agent-system"
    validate_custom(store)
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
