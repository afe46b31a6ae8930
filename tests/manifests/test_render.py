"""Every overlay and every component renders with kubectl's kustomize, and the
kustomizations use current fields only. (Render time is a benchmark: tests/bench/bench_render.py.)"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.manifests.support import COMPONENTS, ENVS, REPO, SERVICES, Render

DEPRECATED_FIELDS = {
    "bases": "resources",
    "patchesStrategicMerge": "patches",
    "patchesJson6902": "patches",
    "vars": "replacements",
    "commonLabels": "labels",
    "imageTags": "images",
}


def test_overlays_are_exactly_dev_staging_prod() -> None:
    found = sorted(p.name for p in (REPO / "overlays").iterdir() if p.is_dir())
    assert found == sorted(ENVS)


def test_every_component_renders_over_the_base(component_renders: dict[str, Render]) -> None:
    on_disk = sorted(p.name for p in (REPO / "base" / "components").iterdir() if p.is_dir())
    assert on_disk == sorted(COMPONENTS), (
        "a component folder is not covered by the tests (support.COMPONENTS)"
    )
    for name, result in component_renders.items():
        assert result.docs, name


def _kustomizations() -> list[Path]:
    roots = [REPO / "base", REPO / "overlays", REPO / "argocd", REPO / "apps"]
    return sorted(p for root in roots for p in root.rglob("kustomization.yaml"))


def _component_dirs(files: list[Path]) -> set[Path]:
    """Every folder some kustomization lists under `components:`, and every folder of the two
    places that hold opt-in components (base/components, apps/secret-store/auth)."""
    dirs = {p for p in (REPO / "base" / "components").iterdir() if p.is_dir()}
    dirs |= {p for p in (REPO / "apps" / "secret-store" / "auth").iterdir() if p.is_dir()}
    for path in files:
        for entry in yaml.safe_load(path.read_text()).get("components", []):
            dirs.add((path.parent / entry).resolve())
    return dirs


def test_kustomizations_use_no_deprecated_fields() -> None:
    files = _kustomizations()
    assert len(files) >= 20
    component_dirs = _component_dirs(files)
    assert REPO / "base" / "components" / "keda" in component_dirs
    problems = []
    for path in files:
        doc = yaml.safe_load(path.read_text())
        rel = path.relative_to(REPO)
        for old, new in DEPRECATED_FIELDS.items():
            if old in doc:
                problems.append(f"{rel}: {old} (use {new})")
        if path.parent in component_dirs:
            expected = ("kustomize.config.k8s.io/v1alpha1", "Component")
        else:
            expected = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
        if (doc.get("apiVersion"), doc.get("kind")) != expected:
            problems.append(
                f"{rel}: apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}, want {expected}"
            )
        for label in doc.get("labels", []):
            if label.get("includeSelectors"):
                problems.append(
                    f"{rel}: labels with includeSelectors rewrite selectors (and NetworkPolicy peers)"
                )
    assert not problems, "\n".join(problems)


# the app of apps, one per profile: `kubectl apply -f apps/root.yaml` (or root-eks.yaml)
APPLIED_BY_HAND = {"apps/root.yaml", "apps/root-eks.yaml"}


def test_every_yaml_file_in_a_kustomization_folder_is_used() -> None:
    """A manifest left out of its kustomization.yaml is silently never deployed."""
    problems = []
    for kfile in _kustomizations():
        doc = yaml.safe_load(kfile.read_text())
        listed = set()
        for key in ("resources", "components", "configurations"):
            listed.update(doc.get(key, []))
        for patch in doc.get("patches", []):
            if "path" in patch:
                listed.add(patch["path"])
        for yml in kfile.parent.glob("*.yaml"):
            rel = str(yml.relative_to(REPO))
            if yml.name != "kustomization.yaml" and yml.name not in listed and rel not in APPLIED_BY_HAND:
                problems.append(str(yml.relative_to(REPO)))
    assert not problems, f"not referenced by their kustomization.yaml: {problems}"


ROLE_FILES = {
    "deployment.yaml": {"Deployment"},
    "statefulset.yaml": {"StatefulSet"},
    "service.yaml": {"Service"},
    "configmap.yaml": {"ConfigMap"},
    "serviceaccount.yaml": {"ServiceAccount"},
    "pdb.yaml": {"PodDisruptionBudget"},
    "networkpolicy.yaml": {"NetworkPolicy"},
    "job.yaml": {"Job"},
    "resourcequota.yaml": {"ResourceQuota"},
    "limitrange.yaml": {"LimitRange"},
    "scaledobject.yaml": {"ScaledObject"},
    "triggerauthentication.yaml": {"TriggerAuthentication"},
    "gateway.yaml": {"Gateway"},
    "httproute.yaml": {"HTTPRoute"},
    "externalsecret.yaml": {"ExternalSecret"},
    "verticalpodautoscaler.yaml": {"VerticalPodAutoscaler"},
    "podmonitor.yaml": {"PodMonitor"},
    "analysistemplate.yaml": {"AnalysisTemplate"},
    "namespace.yaml": {"Namespace"},
}
PATCH_FILES = {"resources.yaml", "quota.yaml", "rollout.yaml", "kustomizeconfig.yaml", "kustomization.yaml"}


def test_files_are_named_by_role() -> None:
    problems = []
    for folder in ("base", "overlays"):
        for path in sorted((REPO / folder).rglob("*.yaml")):
            rel = path.relative_to(REPO)
            if path.name in PATCH_FILES:
                continue
            if path.name not in ROLE_FILES:
                problems.append(f"{rel}: not a role name ({', '.join(sorted(ROLE_FILES))})")
                continue
            kinds = {d["kind"] for d in yaml.safe_load_all(path.read_text()) if d}
            if not kinds <= ROLE_FILES[path.name]:
                problems.append(f"{rel}: holds {sorted(kinds)}")
    assert not problems, "\n".join(problems)


def test_each_service_has_its_base_folder() -> None:
    for name in (*SERVICES, "redis", "postgres", "migrate", "policies"):
        assert (REPO / "base" / name / "kustomization.yaml").is_file(), name
