"""Unstructured Kubernetes objects as Argo CD reads them: keys, annotations, hooks and waves.

Ports of gitops-engine v3.5.1 (github.com/argoproj/argo-cd, tag v3.5.1, gitops-engine/pkg/sync/):
resource/annotations.go, hook/hook.go, hook/delete_policy.go, hook/helm/*.go, syncwaves/waves.go,
sync_phase.go and ignore/ignore.go.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"

PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL = "PreSync", "Sync", "PostSync", "SyncFail"
HOOK_TYPES = (PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL, "Skip")  # common/types.go NewHookType
DELETE_POLICIES = ("HookSucceeded", "HookFailed", "BeforeHookCreation")
# hook/helm/type.go and delete_policy.go: Helm's names for the same things
HELM_HOOK_TYPES = {
    "pre-install": PRE_SYNC,
    "pre-upgrade": PRE_SYNC,
    "post-upgrade": POST_SYNC,
    "post-install": POST_SYNC,
}
HELM_DELETE_POLICIES = {
    "before-hook-creation": "BeforeHookCreation",
    "hook-succeeded": "HookSucceeded",
    "hook-failed": "HookFailed",
}


@dataclass(frozen=True, order=True)
class Key:
    """kube.ResourceKey: group, kind, namespace ("" for cluster-scoped) and name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.group + '/' if self.group else ''}{self.kind} {where}{self.name}"


def api_group(obj: Obj) -> str:
    api = obj.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


def api_version(obj: Obj) -> str:
    return obj.get("apiVersion", "").split("/")[-1]


def meta(obj: Obj) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def name_of(obj: Obj) -> str:
    return obj.get("metadata", {}).get("name", "")


def namespace_of(obj: Obj) -> str:
    return obj.get("metadata", {}).get("namespace", "") or ""


def annotations(obj: Obj) -> dict[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def labels(obj: Obj) -> dict[str, str]:
    return obj.get("metadata", {}).get("labels") or {}


def key_of(obj: Obj, namespaced: bool = True) -> Key:
    return Key(api_group(obj), obj.get("kind", ""), namespace_of(obj) if namespaced else "", name_of(obj))


def deep(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


def annotation_csv(obj: Obj, key: str) -> list[str]:
    """resource.GetAnnotationCSVs: the comma-separated values, trimmed and de-duplicated."""
    seen: list[str] = []
    for item in annotations(obj).get(key, "").split(","):
        value = item.strip()
        if value and value not in seen:
            seen.append(value)
    return seen


def has_option(obj: Obj | None, key: str, value: str) -> bool:
    """resource.HasAnnotationOption."""
    return obj is not None and value in annotation_csv(obj, key)


def option_value(obj: Obj | None, key: str, option: str) -> str | None:
    """resource.GetAnnotationOptionValue: the value of `option=value` in a CSV annotation."""
    if obj is None:
        return None
    for item in annotation_csv(obj, key):
        if item.startswith(option + "="):
            return item[len(option) + 1 :]
    return None


def _helm_is_hook(obj: Obj) -> bool:
    """hook/helm/hook.go IsHook: a helm.sh/hook annotation other than crd-install."""
    value = annotations(obj).get("helm.sh/hook")
    return value is not None and value != "crd-install"


def hook_types(obj: Obj) -> list[str]:
    """hook.Types: the Argo CD hook annotation, else Helm's hook types mapped to phases."""
    types = [t for t in annotation_csv(obj, HOOK) if t in HOOK_TYPES]
    if not types:
        types = [HELM_HOOK_TYPES[t] for t in annotation_csv(obj, "helm.sh/hook") if t in HELM_HOOK_TYPES]
    return types


def skip(obj: Obj) -> bool:
    """hook.Skip: the only hook type is Skip."""
    types = hook_types(obj)
    return "Skip" in types and len(types) == 1


def is_hook(obj: Obj) -> bool:
    """hook.IsHook."""
    if HOOK in annotations(obj):
        return not skip(obj)
    return _helm_is_hook(obj)


def ignored(obj: Obj) -> bool:
    """ignore.Ignore: a hook annotation naming no known hook type."""
    return is_hook(obj) and not hook_types(obj)


def delete_policies(obj: Obj) -> list[str]:
    """hook.DeletePolicies: BeforeHookCreation when none is given."""
    policies = [p for p in annotation_csv(obj, HOOK_DELETE_POLICY) if p in DELETE_POLICIES]
    policies += [
        HELM_DELETE_POLICIES[p]
        for p in annotation_csv(obj, "helm.sh/hook-delete-policy")
        if p in HELM_DELETE_POLICIES
    ]
    return policies or ["BeforeHookCreation"]


def _atoi(text: str | None) -> int | None:
    """Go's strconv.Atoi: an optional sign and decimal digits only."""
    if text is None:
        return None
    body = text[1:] if text[:1] in "+-" else text
    return int(text) if body.isdigit() else None


def wave(obj: Obj) -> int:
    """syncwaves.Wave: the sync-wave annotation, else helm.sh/hook-weight, else 0."""
    value = _atoi(annotations(obj).get(SYNC_WAVE))
    if value is not None:
        return value
    weight = _atoi(annotations(obj).get("helm.sh/hook-weight"))
    return weight if weight is not None else 0


def sync_phases(obj: Obj) -> list[str]:
    """sync_phase.go syncPhases: a hook runs in each phase it names, a resource in Sync."""
    if skip(obj):
        return []
    if is_hook(obj):
        return sorted({t for t in hook_types(obj) if t in (PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL)})
    return [SYNC]


def is_crd(obj: Obj) -> bool:
    return api_group(obj) == "apiextensions.k8s.io" and obj.get("kind") == "CustomResourceDefinition"


def crd_group_kind(obj: Obj) -> tuple[str, str] | None:
    spec = obj.get("spec", {})
    if not is_crd(obj) or "group" not in spec or "kind" not in spec.get("names", {}):
        return None
    return spec["group"], spec["names"]["kind"]


def condition(status: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def selects(selector: dict[str, Any] | None, lbls: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels; none or
    an empty one selects everything."""
    if not selector:
        return True
    if any(lbls.get(k) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        value, op, values = lbls.get(e["key"]), e["operator"], [str(v) for v in e.get("values") or []]
        if (
            (op == "In" and value not in values)
            or (op == "NotIn" and value in values)
            or (op == "Exists" and value is None)
            or (op == "DoesNotExist" and value is not None)
        ):
            return False
    return True
