"""The ApplicationSet controller (applicationset/controllers at v3.5.1): generate the
Applications from this checkout, validate each (validateGeneratedApplications: the project
must exist, the destination must be a known cluster), create or update the valid ones and
report ErrorOccurred / ResourcesUpToDate, which Argo CD's ApplicationSet.lua turns into health."""

from __future__ import annotations

from typing import Any

from tests.manifests.syncmodel.cluster import ApplyError, Cluster
from tests.manifests.syncmodel.objects import name_of
from tests.manifests.syncmodel.profiles import IN_CLUSTER
from tests.manifests.syncmodel.render import RenderError, Repo

ARGOCD_NS = "argocd"


def reconcile_applicationsets(cluster: Cluster, repo: Repo) -> dict[str, str]:
    """One pass over every ApplicationSet; returns the errors by ApplicationSet name."""
    errors_by_set: dict[str, str] = {}
    for appset in list(cluster.find("argoproj.io", "ApplicationSet", ARGOCD_NS)):
        key = cluster.key(appset)
        try:
            apps = repo.generate(appset, clusters=[_in_cluster()])
        except RenderError as exc:
            errors_by_set[name_of(appset)] = str(exc)
            cluster.written[key] = _status(str(exc))
            continue
        errors = [e for e in (_create(cluster, appset, app) for app in apps) if e]
        if errors:
            errors_by_set[name_of(appset)] = "; ".join(errors)
        cluster.written[key] = _status("; ".join(errors) if errors else None)
    return errors_by_set


def _create(cluster: Cluster, appset: dict[str, Any], app: dict[str, Any]) -> str | None:
    spec = app["spec"]
    if cluster.lookup("argoproj.io", "AppProject", ARGOCD_NS, spec.get("project", "")) is None:
        return f"application references project {spec.get('project')} which does not exist"
    dest = spec.get("destination") or {}
    if dest.get("server") not in (IN_CLUSTER, None) and dest.get("name") != "in-cluster":
        return f"application destination spec is invalid: no cluster has the URL {dest.get('server')}"
    app["metadata"].setdefault("annotations", {})["model/created-by"] = f"ApplicationSet {name_of(appset)}"
    existing = cluster.lookup("argoproj.io", "Application", ARGOCD_NS, name_of(app))
    if existing is not None and existing.get("spec") == spec:
        return None
    try:
        cluster.apply(app, owner=None)
    except ApplyError as exc:
        return str(exc)
    return None


def _in_cluster() -> dict[str, Any]:
    return {"name": "in-cluster", "server": IN_CLUSTER, "metadata": {"labels": {}, "annotations": {}}}


def _status(error: str | None) -> dict[str, Any]:
    if error:
        return {
            "conditions": [
                {"type": "ErrorOccurred", "status": "True", "message": error},
                {"type": "ResourcesUpToDate", "status": "False", "message": error},
            ]
        }
    return {
        "conditions": [
            {
                "type": "ErrorOccurred",
                "status": "False",
                "message": "Successfully generated parameters for all Applications",
            },
            {
                "type": "ResourcesUpToDate",
                "status": "True",
                "message": "All applications have been generated successfully",
            },
        ]
    }
