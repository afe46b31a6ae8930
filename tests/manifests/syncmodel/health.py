"""Which rule judges an object's health, and what it says: health.go GetResourceHealth.

Order (gitops-engine/pkg/health/health.go and util/lua/lua.go GetHealthScript, v3.5.1):
1. an object being deleted is Progressing;
2. the health override: a script from argocd-cm (`resource.customizations.health.<group_Kind>`
   or the legacy `resource.customizations` block, wildcards too), else Argo CD's built-in Lua;
3. the built-in Go check for core kinds (health_go.py);
4. otherwise no health at all (None): Argo CD counts such an object as done when it waits.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import yaml

from tests.manifests.syncmodel import health_go
from tests.manifests.syncmodel.lua import LuaError, run_health_script
from tests.manifests.syncmodel.objects import HOOK_FINALIZER, Obj, api_group
from tests.manifests.syncmodel.reference import MissingReference, builtin_health_script, config_key

ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")  # health.go healthOrder


def is_worse(current: str, new: str) -> bool:
    """health.IsWorse: a status not in the order (as "") counts as index 0."""
    index = {s: i for i, s in enumerate(ORDER)}
    return index.get(new, 0) > index.get(current, 0)


@dataclass(frozen=True)
class Health:
    status: str  # "" for Go's empty HealthStatus{} (a Lua script returning nil)
    message: str
    rule: str  # which rule said so: cited in reports


@dataclass(frozen=True)
class Override:
    script: str
    open_libs: bool
    origin: str


def parse_overrides(argocd_cm: dict[str, str], origin: str) -> dict[str, Override]:
    """settings.go GetResourceOverrides: health scripts keyed "group/Kind" (or "Kind")."""
    scripts: dict[str, str] = {}
    libs: dict[str, bool] = {}
    legacy = yaml.safe_load(argocd_cm.get("resource.customizations", "") or "") or {}
    for key, value in legacy.items():
        if value.get("health.lua"):
            scripts[key] = value["health.lua"]
            libs[key] = bool(value.get("health.lua.useOpenLibs", False))
    for cm_key, value in argocd_cm.items():
        parts = cm_key.split(".", 3)
        if len(parts) < 4 or not cm_key.startswith("resource.customizations."):
            continue
        group_kind = parts[3].split("_")  # convertToOverrideKey
        key = "/".join(group_kind) if len(group_kind) == 2 else parts[3]
        key = "*/*" if key == "all" else key
        if parts[2] == "health":
            scripts[key] = value
        elif parts[2] == "useOpenLibs":
            libs[key] = value.strip().lower() in ("1", "t", "true")
    return {k: Override(v, libs.get(k, False), f"{origin} {k}") for k, v in scripts.items()}


class HealthRules:
    """Argo CD's health assessment with a given set of argocd-cm overrides."""

    def __init__(self, overrides: dict[str, Override]) -> None:
        self.overrides = overrides
        self.notes: set[str] = set()  # rules the model had to stand in for (reported)

    def script_for(self, group: str, kind: str) -> tuple[str, bool, str] | None:
        key = config_key(group, kind)
        if key in self.overrides:
            o = self.overrides[key]
            return o.script, o.open_libs, f"argocd-cm ({o.origin})"
        for pattern, o in self.overrides.items():  # getWildcardHealthOverrideLua
            if fnmatch.fnmatchcase(key, pattern):
                return o.script, o.open_libs, f"argocd-cm ({o.origin})"
        script = builtin_health_script(group, kind)
        if script is None:
            return None
        return script.source, True, f"Lua {script.origin}"

    def has_health(self, group: str, kind: str) -> bool:
        """Whether any rule judges this kind (else Argo CD treats it as healthy when waiting)."""
        try:
            return (
                self.script_for(group, kind) is not None
                or (group, kind) in health_go.CHECKS
                or (group, kind) in health_go.NOT_PORTED
            )
        except MissingReference:
            return True

    def judge(self, obj: Obj) -> Health | None:
        """GetResourceHealth for a live object (with the status a cluster wrote)."""
        meta: dict[str, Any] = obj.get("metadata", {})
        if meta.get("deletionTimestamp") and HOOK_FINALIZER not in (meta.get("finalizers") or []):
            return Health("Progressing", "Pending deletion", "health.go: deletionTimestamp set")
        group, kind = api_group(obj), obj["kind"]
        try:
            found = self.script_for(group, kind)
        except MissingReference as exc:
            return self._stand_in(obj, group, kind, exc)
        if found is not None:
            script, open_libs, rule = found
            try:
                result = run_health_script(script, obj, open_libs)
            except LuaError as exc:
                return Health("Unknown", str(exc), rule)
            return Health(*(result or ("", "")), rule)
        if (group, kind) in health_go.CHECKS:
            status, message = health_go.CHECKS[(group, kind)](obj)
            return Health(status, message, f"Go {health_go.SOURCE[kind]}")
        if (group, kind) in health_go.NOT_PORTED:
            return Health(
                "Unknown",
                f"the model has no port of Argo CD's Go check for {group}/{kind}",
                "model: not ported",
            )
        return None

    def _stand_in(self, obj: Obj, group: str, kind: str, exc: MissingReference) -> Health:
        port = LUA_PORTS.get(config_key(group, kind))
        if port is None:
            return Health("Unknown", f"model: {exc}", "model: missing script")
        self.notes.add(f"{config_key(group, kind)} judged by a port of Argo CD's health.lua ({exc})")
        status, message = port(obj)
        return Health(
            status, message, f"port of resource_customizations/{config_key(group, kind)}/health.lua"
        )


def _pdb(obj: Obj) -> tuple[str, str]:
    """resource_customizations/policy/PodDisruptionBudget/health.lua at v3.5.1, in Python: only
    used when the script itself cannot be read (it is missing from ../shared/argocd-v3.5.1)."""
    status, message = "Progressing", "Waiting for status"
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "False" and cond.get("reason") != "InsufficientPods":
            return "Degraded", f"PodDisruptionBudget has {cond.get('reason')}"
        status, message = "Healthy", f"PodDisruptionBudget has {cond.get('reason')}"
    return status, message


LUA_PORTS = {"policy/PodDisruptionBudget": _pdb}
