"""What an AppProject permits (pkg/apis/application/v1alpha1/app_project_types.go and
types.go at v3.5.1): source repositories, destinations, and the kinds an Application may
sync (IsGroupKindNamePermitted, isResourceInList with filepath.Match globs)."""

from __future__ import annotations

import fnmatch
from typing import Any

from tests.manifests.syncmodel.objects import Obj, name_of
from tests.manifests.syncmodel.profiles import IN_CLUSTER


def glob_match(pattern: str, value: str) -> bool:
    """Argo CD's glob.Match for project fields (`!` negation is not used here)."""
    return fnmatch.fnmatchcase(value, pattern)


def destination_permitted(project: Obj, namespace: str) -> bool:
    """isDestinationMatched, for the one cluster the profiles have (in-cluster)."""
    for d in (project.get("spec") or {}).get("destinations") or []:
        server_ok = glob_match(d.get("server", ""), IN_CLUSTER) or glob_match(
            d.get("name", "") or "\0", "in-cluster"
        )
        if server_ok and glob_match(d.get("namespace", ""), namespace):
            return True
    return False


def kind_permitted(project: Obj, group: str, kind: str, name: str, namespaced: bool) -> bool:
    """AppProject.IsGroupKindNamePermitted: an empty cluster whitelist permits nothing, an
    absent namespace whitelist everything."""
    spec = project.get("spec") or {}

    def listed(items: list[dict[str, Any]] | None, named: bool) -> bool:
        return any(
            fnmatch.fnmatchcase(kind, i.get("kind", ""))
            and fnmatch.fnmatchcase(group, i.get("group", ""))
            and (not named or not i.get("name") or fnmatch.fnmatchcase(name, i["name"]))
            for i in items or []
        )

    if namespaced:
        white, black = spec.get("namespaceResourceWhitelist"), spec.get("namespaceResourceBlacklist")
        return (white is None or (len(white) > 0 and listed(white, False))) and not listed(black, False)
    white, black = spec.get("clusterResourceWhitelist"), spec.get("clusterResourceBlacklist")
    return bool(white) and listed(white, True) and not listed(black, True)


def spec_problem(project: Obj | None, app_spec: dict[str, Any]) -> str | None:
    """The InvalidSpecError conditions that keep the controller from syncing an Application."""
    if project is None:
        return f"application references project {app_spec.get('project')} which does not exist"
    repo_url = (app_spec.get("source") or {}).get("repoURL", "")
    if not any(glob_match(p, repo_url) for p in (project.get("spec") or {}).get("sourceRepos") or []):
        return f"application repo {repo_url} is not permitted in project '{name_of(project)}'"
    dest = app_spec.get("destination") or {}
    server = dest.get("server") or ("in-cluster" if dest.get("name") == "in-cluster" else "")
    if server not in (IN_CLUSTER, "in-cluster"):
        return f"application destination server '{server or dest.get('name')}' is not a known cluster"
    if not destination_permitted(project, dest.get("namespace", "")):
        return (
            f"application destination {{{IN_CLUSTER} {dest.get('namespace')}}} is not permitted "
            f"in project '{name_of(project)}'"
        )
    return None
