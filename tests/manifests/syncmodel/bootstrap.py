"""A profile's bootstrap, as the README tells a person to do it: install Argo CD from
argocd/install, `kubectl apply -f` the profile's root Application, then let Argo CD's
controllers run until nothing changes any more (a fixed point: every operation has finished
or waits for something that never comes).

Argo CD's own install brings the Application, ApplicationSet and AppProject CRDs, the
`default` project, and argocd-cm as argocd/install patches it (health customizations).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.manifests.support import REPO
from tests.manifests.syncmodel.argocd import ARGOCD_NS, ArgoCD
from tests.manifests.syncmodel.cluster import Cluster
from tests.manifests.syncmodel.health import HealthRules, parse_overrides
from tests.manifests.syncmodel.profiles import Profile
from tests.manifests.syncmodel.render import Repo, load_all, normalize_url

MAX_ROUNDS = 200
ARGOCD_CRDS = ("Application", "ApplicationSet", "AppProject")


@dataclass
class Run:
    profile: Profile
    repo: Repo
    cluster: Cluster
    argocd: ArgoCD
    roots: list[str]
    rounds: int
    settled: bool


def argocd_cm(root: Path) -> tuple[dict[str, str], str]:
    """argocd-cm's data as argocd/install patches it (only local files are read: the pinned
    upstream install.yaml ships argocd-cm without data)."""
    folder = root / "argocd" / "install"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) if folder.exists() else {}
    data: dict[str, str] = {}
    files = [p["path"] for p in (kustomization or {}).get("patches") or [] if "path" in p]
    files += list((kustomization or {}).get("patchesStrategicMerge") or [])
    files += [
        r for r in (kustomization or {}).get("resources") or [] if not r.startswith(("http://", "https://"))
    ]
    for name in files:
        path = folder / name
        if not path.is_file():
            continue
        for doc in load_all(path.read_text()):
            if doc.get("kind") == "ConfigMap" and doc.get("metadata", {}).get("name") == "argocd-cm":
                data.update(doc.get("data") or {})
    return data, "argocd/install argocd-cm"


def install_argocd(cluster: Cluster, root: Path, overrides: dict[str, str] | None = None) -> HealthRules:
    who = "Argo CD's install (argocd/install)"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD_NS}}, owner=None)
    for kind in ARGOCD_CRDS:
        cluster.install_crd("argoproj.io", kind, ("v1alpha1",), True, who)
    cluster.controllers["argocd"] = who
    cluster.apply(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": ARGOCD_NS},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        },
        owner=None,
    )
    data, origin = (overrides, "test argocd-cm") if overrides is not None else argocd_cm(root)
    return HealthRules(parse_overrides(data, origin))


def root_files(profile: Profile, root: Path) -> list[str]:
    for candidate in profile.roots:
        if (root / candidate).exists():
            return [candidate]
    raise FileNotFoundError(f"none of {profile.roots} exists under {root}")


def bootstrap(
    profile: Profile,
    root: Path = REPO,
    argocd_cm_data: dict[str, str] | None = None,
    roots: list[dict[str, Any]] | None = None,
) -> Run:
    """Run a profile's bootstrap on a fresh simulated cluster. `roots` (Application objects)
    and `argocd_cm_data` replace the repository's, for the model's own tests."""
    cluster = Cluster.fresh(profile)
    rules = install_argocd(cluster, root, argocd_cm_data)
    names = ["(given)"] if roots is not None else root_files(profile, root)
    apps = roots if roots is not None else [d for n in names for d in load_all((root / n).read_text())]
    repo = Repo(root, {normalize_url(a["spec"]["source"]["repoURL"]) for a in apps if "source" in a["spec"]})
    for app in apps:
        app.setdefault("metadata", {}).setdefault("namespace", ARGOCD_NS)
        cluster.apply(app, owner=None)
    argocd = ArgoCD(cluster, repo, rules)
    previous: tuple[Any, ...] = ()
    for rounds in range(1, MAX_ROUNDS + 1):
        argocd.reconcile()
        state = (cluster.revision, argocd.fingerprint())
        if state == previous:
            return Run(profile, repo, cluster, argocd, names, rounds, True)
        previous = state
    return Run(profile, repo, cluster, argocd, names, MAX_ROUNDS, False)
