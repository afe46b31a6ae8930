"""Argo CD's controllers on the simulated cluster: the application controller (validation
against the AppProject, automated sync with retries, sync and health status), the
ApplicationSet controller, and add-on Applications whose content the model knows only by
addons.py's facts.

Application health is controller/health.go setApplicationHealth (v3.5.1): the worst health of
the live resources that have one; hooks, resources not created yet (Missing) and child
Applications that are Missing or Unknown do not count; an app with resources but none live is
Missing. Sync status: Synced once every resource in Git exists as applied (the model applies
exactly what Git says, so a diff can only come from a resource that is absent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.manifests.syncmodel.addons import AddOn, Install, find_addon, is_pinned, status_default
from tests.manifests.syncmodel.applicationsets import reconcile_applicationsets
from tests.manifests.syncmodel.cluster import Cluster
from tests.manifests.syncmodel.health import Health, HealthRules, is_worse
from tests.manifests.syncmodel.judge import Judgement, judge
from tests.manifests.syncmodel.objects import (
    Key,
    Obj,
    annotations,
    api_group,
    ignored,
    is_hook,
    name_of,
    skip,
)
from tests.manifests.syncmodel.projects import destination_permitted, kind_permitted, spec_problem
from tests.manifests.syncmodel.render import RenderError, Repo
from tests.manifests.syncmodel.waves import FAILED, SUCCEEDED, SyncOperation, SyncSettings

ARGOCD_NS = "argocd"
ADDON_STEPS = 2  # an add-on's sync takes a round to start and one to finish


@dataclass
class AppState:
    """What the model knows about one Application."""

    name: str
    spec: dict[str, Any]
    parent: str  # who created it: "by hand", an Application, an ApplicationSet
    round_created: int
    targets: list[Obj] = field(default_factory=list)
    addon: AddOn | None = None
    install: Install | None = None
    invalid: str | None = None  # a spec error: the controller never syncs it
    unknown: str | None = None  # the model cannot tell what it syncs
    operation: SyncOperation | None = None
    attempts: int = 0
    failures: list[str] = field(default_factory=list)  # messages of failed attempts
    failed_at: int | None = None  # the cluster's revision when the last attempt failed
    failed_op: SyncOperation | None = None
    addon_step: int = 0
    addon_error: str | None = None
    sync_status: str = "OutOfSync"
    health: Health = field(default_factory=lambda: Health("Missing", "", "controller/health.go"))
    unhealthy: list[tuple[Key, Judgement]] = field(default_factory=list)

    @property
    def source(self) -> dict[str, Any]:
        return self.spec.get("source") or {}

    @property
    def destination(self) -> dict[str, Any]:
        return self.spec.get("destination") or {}

    @property
    def automated(self) -> bool:
        auto = (self.spec.get("syncPolicy") or {}).get("automated")
        return auto is not None and auto.get("enabled", True) is not False

    @property
    def retry_limit(self) -> int:
        retry = (self.spec.get("syncPolicy") or {}).get("retry")
        return 0 if retry is None else int(retry.get("limit", 0))

    def describe_source(self) -> str:
        s = self.source
        where = s.get("chart") or s.get("path") or "."
        return f"{s.get('repoURL')} {where}@{s.get('targetRevision', 'HEAD')}"


class ArgoCD:
    def __init__(self, cluster: Cluster, repo: Repo, rules: HealthRules) -> None:
        self.cluster, self.repo, self.rules = cluster, repo, rules
        self.apps: dict[str, AppState] = {}
        self.round = 0
        self.appset_errors: dict[str, str] = {}

    # ---- the loop --------------------------------------------------------------------

    def reconcile(self) -> None:
        self.round += 1
        self.appset_errors = reconcile_applicationsets(self.cluster, self.repo)
        for obj in list(self.cluster.find("argoproj.io", "Application", ARGOCD_NS)):
            state = self.apps.get(name_of(obj))
            if state is None:
                state = self._new_app(obj)
            self._reconcile_app(state)

    def fingerprint(self) -> tuple[Any, ...]:
        return tuple(
            (
                a.name,
                a.sync_status,
                a.health.status,
                a.operation.phase if a.operation else "",
                a.operation.message if a.operation else "",
                a.addon_step,
                a.attempts,
                a.invalid,
            )
            for a in self.apps.values()
        )

    def judge(self, obj: Obj) -> Judgement:
        return judge(self.cluster, self.rules, obj)

    # ---- Applications ----------------------------------------------------------------

    def _new_app(self, obj: Obj) -> AppState:
        key = self.cluster.key(obj)
        owner = self.cluster.owner_of(key)
        parent = self.cluster.objects[key].obj.get("metadata", {}).get("annotations", {}).get(
            "model/created-by"
        ) or (f"Application {owner}" if owner else "applied by hand")
        state = AppState(name_of(obj), obj.get("spec") or {}, parent, self.round)
        self.apps[state.name] = state
        if state.spec.get("sources"):
            state.unknown = "multi-source Applications are not modelled"
            return state
        source = state.source
        if self.repo.is_ours(source.get("repoURL", "")):
            try:
                state.targets = self.repo.render(source)
            except RenderError as exc:
                state.unknown = str(exc)
            return state
        state.addon = find_addon(source)
        revision = source.get("targetRevision", "HEAD")
        if state.addon is None:
            state.unknown = f"the model does not know what {state.describe_source()} installs (addons.py)"
        elif not is_pinned(revision) or (state.addon.versions and revision not in state.addon.versions):
            state.unknown = (
                f"{state.addon.name} at {revision}: the model's facts are for "
                f"{', '.join(state.addon.versions) or 'pinned versions'} only"
            )
        else:
            state.install = state.addon.install(source)
        return state

    def _project(self, state: AppState) -> Obj | None:
        return self.cluster.lookup(
            "argoproj.io", "AppProject", ARGOCD_NS, state.spec.get("project", "default")
        )

    def _validate(self, state: AppState) -> str | None:
        return spec_problem(self._project(state), state.spec)

    def permitted(self, state: AppState, obj: Obj, namespaced: bool) -> str | None:
        """validateSyncPermissions: the project's resource lists and destinations."""
        project = self._project(state)
        if project is None:
            return f"application references project {state.spec.get('project')} which does not exist"
        group, kind = api_group(obj), obj["kind"]
        if not kind_permitted(project, group, kind, name_of(obj), namespaced):
            return f"resource {group}:{kind} is not permitted in project {name_of(project)}"
        ns = (obj.get("metadata") or {}).get("namespace", "")
        if namespaced and not destination_permitted(project, ns):
            return f"namespace {ns} is not permitted in project '{name_of(project)}'"
        return None

    def _reconcile_app(self, state: AppState) -> None:
        if state.unknown:
            self._write(state, "Unknown", Health("Unknown", state.unknown, "model"))
            return
        state.invalid = self._validate(state)
        if state.invalid:
            self._write(state, "Unknown", Health("Unknown", state.invalid, "application controller"))
            return
        if state.addon is not None:
            self._addon_step(state)
        elif state.automated:
            self._sync_step(state)
        self._status(state)

    def _sync_step(self, state: AppState) -> None:
        """Automated sync, and syncPolicy.retry: a failed operation is started again up to
        retry.limit times. A retry can only end differently once the cluster changed, so the
        model retries only then (backoff timing is not modelled: see the report's timing notes)."""
        op = state.operation
        retry = (
            op is not None
            and op.phase == FAILED
            and state.attempts <= state.retry_limit
            and state.failed_at != self.cluster.revision
        )
        if op is None or retry:
            state.attempts += 1
            op = state.operation = self._operation(state)
        op.step()
        if op.phase == FAILED and state.failed_op is not op:
            state.failed_op = op
            state.failures.append(op.message)
            state.failed_at = self.cluster.revision

    def _operation(self, state: AppState) -> SyncOperation:
        policy = state.spec.get("syncPolicy") or {}
        settings = SyncSettings(
            options=tuple(policy.get("syncOptions") or ()),
            prune=bool((policy.get("automated") or {}).get("prune")),
            managed_namespace_metadata=policy.get("managedNamespaceMetadata"),
        )
        return SyncOperation(
            app=state.name,
            namespace=state.destination.get("namespace", ""),
            targets=state.targets,
            cluster=self.cluster,
            settings=settings,
            health=lambda obj: self.judge(obj).health,
            permitted=lambda obj, namespaced: self.permitted(state, obj, namespaced),
        )

    # ---- add-ons known by their facts --------------------------------------------------

    def _addon_step(self, state: AppState) -> None:
        if state.addon_error or state.addon_step >= ADDON_STEPS or not state.automated:
            return
        state.addon_step += 1
        if state.addon_step == 1:
            state.addon_error = self._addon_problem(state)
            return
        self._install(state)

    def _addon_problem(self, state: AppState) -> str | None:
        assert state.install is not None
        project, install = self._project(state), state.install
        options = (state.spec.get("syncPolicy") or {}).get("syncOptions") or []
        for group, kind in install.cluster_kinds:
            if project and not kind_permitted(project, group, kind, "", False):
                return f"resource {group}:{kind} is not permitted in project {name_of(project)}"
        for group, kind in install.namespaced_kinds:
            if project and not kind_permitted(project, group, kind, "", True):
                return f"resource {group}:{kind} is not permitted in project {name_of(project)}"
        missing = [f"{g}/{k}" for g, k in install.requires if (g, k) not in self.cluster.served]
        if missing:
            name = state.addon.name if state.addon else state.name
            return f"{name} needs the CRDs {', '.join(missing)} installed first"
        if (
            install.needs_server_side_apply
            and "ServerSideApply=true" not in options
            and "Replace=true" not in options
        ):
            return (
                "CustomResourceDefinition is invalid: metadata.annotations: Too long: must have at most "
                "262144 bytes (client-side apply of a large CRD; use ServerSideApply=true)"
            )
        ns = state.destination.get("namespace", "")
        if install.namespaced_kinds and self.cluster.lookup("", "Namespace", "", ns) is None:
            if "CreateNamespace=true" not in options:
                return f'namespaces "{ns}" not found'
            self.cluster.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, owner=None
            )
        return None

    def _install(self, state: AppState) -> None:
        assert state.install is not None and state.addon is not None
        install, who = state.install, f"add-on Application {state.name} ({state.addon.facts})"
        for crd in install.crds:
            self.cluster.install_crd(
                crd.group, crd.kind, crd.versions, crd.namespaced, who, status_default(crd)
            )
        ns = state.destination.get("namespace", "")
        for controller in install.controllers:
            self.cluster.controllers[controller] = who
        for provisioner in install.provisioners:
            self.cluster.controllers[f"provisioner:{provisioner}"] = who
        for obj in install.objects:
            self.cluster.apply(obj, owner=state.name)
        if state.addon.name == "external-secrets":
            values = ((state.source.get("helm") or {}).get("valuesObject") or {}).get("serviceAccount") or {}
            sa = values.get("name", "external-secrets")
            self.cluster.identities["external-secrets"] = (ns, sa)
            self.cluster.store(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": sa,
                        "namespace": ns,
                        "annotations": dict(values.get("annotations") or {}),
                    },
                },
                owner=None,
            )

    # ---- status ----------------------------------------------------------------------

    def _status(self, state: AppState) -> None:
        if state.addon is not None:
            self._addon_status(state)
            return
        health, unhealthy = self._app_health(state)
        state.unhealthy = unhealthy
        live = {self.cluster.key(t) for t in self._resource_targets(state)}
        synced = (
            all(self.cluster.get(k) is not None for k in live)
            and state.operation is not None
            and state.operation.phase == SUCCEEDED
        )
        self._write(state, "Synced" if synced else "OutOfSync", health)

    def _addon_status(self, state: AppState) -> None:
        assert state.addon is not None
        if state.addon_error:
            self._write(state, "OutOfSync", Health("Missing", state.addon_error, "model: add-on facts"))
        elif state.addon_step < ADDON_STEPS:
            self._write(state, "OutOfSync", Health("Progressing", "syncing", "model: add-on facts"))
        elif self.cluster.profile.name in state.addon.profiles_unhealthy:
            why = state.addon.profiles_unhealthy[self.cluster.profile.name]
            self._write(state, "Synced", Health("Degraded", why, "model: add-on facts"))
        else:
            missing = (
                [f"{g}/{k}" for g, k in state.install.requires if (g, k) not in self.cluster.served]
                if state.install
                else []
            )
            health = (
                Health("Degraded", f"needs {missing}", "model: add-on facts")
                if missing
                else Health("Healthy", "", f"model: add-on facts ({state.addon.facts})")
            )
            self._write(state, "Synced", health)

    def _resource_targets(self, state: AppState) -> list[Obj]:
        out = []
        for t in state.targets:
            if skip(t) or is_hook(t) or ignored(t):
                continue
            t = dict(t, metadata=dict(t.get("metadata") or {}))
            if not t["metadata"].get("namespace") and self.cluster.namespaced(api_group(t), t["kind"]):
                t["metadata"]["namespace"] = state.destination.get("namespace", "")
            out.append(t)
        return out

    def _app_health(self, state: AppState) -> tuple[Health, list[tuple[Key, Judgement]]]:
        """setApplicationHealth."""
        status, message = "Healthy", ""
        unhealthy: list[tuple[Key, Judgement]] = []
        has_resources = has_live = False
        for target in self._resource_targets(state):
            key = self.cluster.key(target)
            live = self.cluster.get(key)
            has_resources = True
            if live is None:
                continue
            has_live = True
            if annotations(live).get("argocd.argoproj.io/ignore-healthcheck") == "true":
                continue
            verdict = self.judge(live)
            health = verdict.health
            if health is None:
                continue
            if (
                key.group == "argoproj.io"
                and key.kind == "Application"
                and health.status in ("Missing", "Unknown")
            ):
                continue
            if health.status != "Healthy":
                unhealthy.append((key, verdict))
            if is_worse(status, health.status):
                status, message = health.status, health.message
        if has_resources and not has_live and is_worse(status, "Missing"):
            status = "Missing"
        return Health(status, message, "controller/health.go"), unhealthy

    def _write(self, state: AppState, sync: str, health: Health) -> None:
        state.sync_status, state.health = sync, health
        key = Key("argoproj.io", "Application", ARGOCD_NS, state.name)
        op = state.operation
        self.cluster.written[key] = {
            "sync": {"status": sync},
            "health": {"status": health.status, **({"message": health.message} if health.message else {})},
            **({"operationState": {"phase": op.phase, "message": op.message}} if op else {}),
        }

    # ---- ApplicationSets -------------------------------------------------------------
