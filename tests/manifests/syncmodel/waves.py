"""One Argo CD sync operation, step by step: gitops-engine/pkg/sync at v3.5.1
(../shared/argocd-v3.5.1/sync_context.go, and sync_tasks.go / sync_task.go of the same tag).

`SyncOperation.step()` is one call of syncContext.Sync(): the controller calls it again and
again until the operation is completed. In short:
- tasks are ordered by phase (PreSync, Sync, PostSync), wave, kind (sync_tasks.go kindOrder;
  kinds it does not list, custom resources included, come last) and name; a Namespace moves
  up to the first task in it, a CRD to the first of its custom resources (adjustDeps);
- before anything is applied, every task's kind must be known to the API server: a missing
  kind fails the whole operation, unless SkipDryRunOnMissingResource=true (sync option or
  annotation) or the CRD is part of the same sync, in which case only the dry run is skipped
  and the apply itself still needs the CRD by the time its wave runs;
- one phase/wave is applied at a time; the next starts only once every task of the waves
  applied so far is done: a resource when it is Healthy or has no health check (Degraded
  fails the operation, anything else waits), a hook when its health says it completed;
- after the last wave only hooks are waited for: the operation succeeds at once, whatever
  the health of the last wave's resources (Application health still counts them).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.manifests.syncmodel.cluster import ApplyError, Cluster
from tests.manifests.syncmodel.health import Health
from tests.manifests.syncmodel.objects import (
    HOOK_FINALIZER,
    POST_SYNC,
    PRE_SYNC,
    SYNC,
    SYNC_FAIL,
    SYNC_OPTIONS,
    Key,
    Obj,
    api_group,
    api_version,
    crd_group_kind,
    delete_policies,
    has_option,
    ignored,
    is_hook,
    name_of,
    namespace_of,
    sync_phases,
)
from tests.manifests.syncmodel.objects import wave as object_wave

PHASE_ORDER = {PRE_SYNC: -1, SYNC: 0, POST_SYNC: 1, SYNC_FAIL: 2}  # sync_tasks.go syncPhaseOrder
_KINDS = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
]
KIND_ORDER = {k: i - len(_KINDS) for i, k in enumerate(_KINDS)}  # unlisted kinds: 0, i.e. last

# operation phases (common/types.go) and result codes
RUNNING, FAILED, ERROR, SUCCEEDED = "Running", "Failed", "Error", "Succeeded"
SYNCED, SYNC_FAILED, PRUNED, PRUNE_SKIPPED = "Synced", "SyncFailed", "Pruned", "PruneSkipped"
_RESULT_PHASE = {SYNCED: RUNNING, SYNC_FAILED: FAILED, PRUNED: SUCCEEDED, PRUNE_SKIPPED: SUCCEEDED}


@dataclass
class Task:
    """sync_task.go syncTask."""

    phase: str
    target: Obj | None
    live: Obj | None
    wave_override: int | None = None
    skip_dry_run: bool = False
    sync_status: str = ""
    op_state: str = ""
    message: str = ""
    tracked: bool = True  # applied with this Application's tracking (not the auto-created namespace)

    @property
    def obj(self) -> Obj:
        return self.target if self.target is not None else self.live  # type: ignore[return-value]

    def wave(self) -> int:
        return self.wave_override if self.wave_override is not None else object_wave(self.obj)

    @property
    def is_hook(self) -> bool:
        return is_hook(self.obj)

    @property
    def is_prune(self) -> bool:
        return self.target is None

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def group(self) -> str:
        return api_group(self.obj)

    @property
    def name(self) -> str:
        return name_of(self.obj)

    def pending(self) -> bool:
        return self.op_state == ""

    def running(self) -> bool:
        return self.op_state == RUNNING

    def completed(self) -> bool:
        return self.op_state in (FAILED, ERROR, SUCCEEDED)

    def successful(self) -> bool:
        return self.op_state == SUCCEEDED

    def _policy(self, policy: str) -> bool:
        return self.is_hook and policy in delete_policies(self.obj)

    def delete_before_creation(self) -> bool:
        return self.live is not None and self.pending() and self._policy("BeforeHookCreation")

    def delete_on_phase_successful(self) -> bool:
        return self.live is not None and self._policy("HookSucceeded")

    def delete_on_phase_failed(self) -> bool:
        return self.live is not None and self._policy("HookFailed")


def _less(a: Task, b: Task) -> int:
    """sync_tasks.go Less, as a comparison."""
    for d in (
        PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase],
        a.wave() - b.wave(),
        KIND_ORDER.get(a.kind, 0) - KIND_ORDER.get(b.kind, 0),
    ):
        if d:
            return -1 if d < 0 else 1
    return (a.name > b.name) - (a.name < b.name)


def _adjust_deps(
    tasks: list[Task], is_dep: Callable[[Obj], str | None], refs: Callable[[Obj], str | None]
) -> None:
    """sync_tasks.go adjustDeps: move a dependency before the first task that needs it, into
    that task's phase and wave."""
    first: dict[str, int] = {}
    for i, t in enumerate(list(tasks)):
        t = tasks[i]
        if t.target is None:
            continue
        dep = is_dep(t.target)
        if dep is not None:
            if dep in first:
                index = first[dep]
                t.wave_override, t.phase = tasks[index].wave(), tasks[index].phase
                tasks[index + 1 : i + 1] = tasks[index:i]
                tasks[index] = t
                for k, v in first.items():
                    if v >= index:
                        first[k] = v + 1
        else:
            ref = refs(t.target)
            if ref is not None and ref not in first:
                first[ref] = i


def sort_tasks(tasks: list[Task]) -> None:
    """sync_tasks.go Sort."""
    tasks.sort(key=functools.cmp_to_key(_less))
    _adjust_deps(
        tasks,
        lambda o: name_of(o) if o["kind"] == "Namespace" and api_group(o) == "" else None,
        lambda o: namespace_of(o) or None,
    )
    _adjust_deps(
        tasks,
        lambda o: "/".join(crd_group_kind(o)) if crd_group_kind(o) else None,
        lambda o: f"{api_group(o)}/{o['kind']}",
    )


@dataclass
class SyncSettings:
    """What the controller passes to the sync context (controller/sync.go)."""

    options: tuple[str, ...] = ()  # spec.syncPolicy.syncOptions
    prune: bool = False
    managed_namespace_metadata: dict | None = None

    def has(self, option: str) -> bool:
        return option in self.options


@dataclass
class Applied:
    """A record of what one step did, for reports and the model's own tests."""

    phase: str
    wave: int
    keys: list[str]


@dataclass
class SyncOperation:
    app: str
    namespace: str
    targets: list[Obj]
    cluster: Cluster
    settings: SyncSettings
    health: Callable[[Obj], Health | None]
    permitted: Callable[[Obj, bool], str | None] = lambda obj, namespaced: None
    revision: str = "0123456789abcdef"
    phase: str = ""
    message: str = ""
    results: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # resultKey -> (status, state, msg)
    applied: list[Applied] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    waiting_on: list[Task] = field(default_factory=list)
    objects: dict[str, Obj] = field(default_factory=dict)  # resultKey -> the task's object

    @property
    def done(self) -> bool:
        return self.phase in (FAILED, ERROR, SUCCEEDED)

    # ---- getSyncTasks ----------------------------------------------------------------

    def _key(self, obj: Obj) -> Key:
        return self.cluster.key(obj)

    def _result_key(self, task: Task) -> str:
        """resourceResultKey: the namespace as the task's object has it (getSyncTasks sets the
        app's namespace on every target without one, cluster-scoped or not)."""
        obj = task.obj
        return f"{api_group(obj)}/{obj['kind']}/{namespace_of(obj)}/{name_of(obj)}:{task.phase}"

    def _resources(self) -> tuple[dict[Key, tuple[Obj | None, Obj | None]], list[Obj]]:
        """reconcile.go Reconcile: (key -> (target, live)) for resources, and the hooks."""
        resources: dict[Key, tuple[Obj | None, Obj | None]] = {}
        hooks = []
        for obj in self.targets:
            if ignored(obj):
                continue
            obj = copy.deepcopy(obj)
            if not namespace_of(obj):
                obj.setdefault("metadata", {})["namespace"] = self.namespace
            if is_hook(obj):
                hooks.append(obj)
                continue
            key = self._key(obj)
            resources[key] = (obj, self.cluster.get(key))
        for key, live in self.cluster.owned_by(self.app).items():
            if key not in resources:
                resources[key] = (None, live)
        return resources, hooks

    def _tasks(self) -> tuple[list[Task], bool]:
        resources, hooks = self._resources()
        tasks: list[Task] = []
        for target, live in resources.values():
            obj = target if target is not None else live
            if obj is None or is_hook(obj):
                continue
            tasks += [Task(phase, target, live) for phase in sync_phases(obj)]
        for hook in hooks:
            for phase in sync_phases(hook):
                target = copy.deepcopy(hook)
                if not name_of(target):
                    target["metadata"]["name"] = (
                        f"{target['metadata'].get('generateName', '')}{self.revision[:7]}-{phase.lower()}-0"
                    )
                target["metadata"].setdefault("finalizers", [])
                if HOOK_FINALIZER not in target["metadata"]["finalizers"]:
                    target["metadata"]["finalizers"].append(HOOK_FINALIZER)
                tasks.append(Task(phase, target, None))
        if self.settings.has("CreateNamespace=true") and self.namespace:
            tasks += self._namespace_task(resources)
        for t in tasks:
            if t.target is not None and t.live is None:
                key = self._key(t.target)
                t.live = resources.get(key, (None, None))[1]
        ok = self._check_kinds(tasks)
        self._prune_waves(tasks)
        sort_tasks(tasks)
        for t in tasks:
            if (res := self.results.get(self._result_key(t))) is not None:
                t.sync_status, t.op_state, t.message = res
        return tasks, ok

    def _namespace_task(self, resources: dict[Key, tuple[Obj | None, Obj | None]]) -> list[Task]:
        """autoCreateNamespace and controller/sync_namespace.go syncNamespace."""
        if any(
            t and t["kind"] == "Namespace" and name_of(t) == self.namespace for t, _ in resources.values()
        ):
            return []
        live = self.cluster.lookup("", "Namespace", "", self.namespace)
        managed = self.settings.managed_namespace_metadata
        if live is not None and managed is None:
            return []
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        if managed is not None:
            ns["metadata"]["labels"] = dict(managed.get("labels") or {})
            ns["metadata"]["annotations"] = {
                **(managed.get("annotations") or {}),
                SYNC_OPTIONS: "ServerSideApply=true",
            }
        return [Task(PRE_SYNC, ns, live, tracked=False)]

    def _skip_dry_run(self, task: Task) -> bool:
        if self.settings.has("SkipDryRunOnMissingResource=true"):
            return True
        if has_option(task.target, SYNC_OPTIONS, "SkipDryRunOnMissingResource=true"):
            return True
        return any(crd_group_kind(o) == (task.group, task.kind) for o in self.targets)

    def _check_kinds(self, tasks: list[Task]) -> bool:
        """getSyncTasks' discovery and permission loop."""
        ok = True
        for t in tasks:
            try:
                served = self.cluster.discover(t.group, api_version(t.obj), t.kind)
            except ApplyError as exc:
                # apierrors.IsNotFound: the kind is unknown (a CRD not installed yet)
                if exc.not_found and self._skip_dry_run(t):
                    t.skip_dry_run = True
                    continue
                self._set(t, SYNC_FAILED, "", str(exc))
                ok = False
                continue
            problem = self.permitted(t.obj, served.namespaced)
            if problem:
                self._set(t, SYNC_FAILED, "", problem)
                ok = False
        return ok

    def _prune_waves(self, tasks: list[Task]) -> None:
        """Prune tasks run in reverse wave order; PruneLast ones after the last Sync wave."""
        prune = [t for t in tasks if t.is_prune]
        waves = sorted({t.wave() for t in prune})
        swap = {w: waves[len(waves) - 1 - i] for i, w in enumerate(waves)}
        for t in prune:
            t.wave_override = swap[t.wave()]
        last = max([t.wave() for t in tasks if t.phase == SYNC] + [0]) + 1
        for t in prune:
            if self.settings.has("PruneLast=true") or has_option(t.live, SYNC_OPTIONS, "PruneLast=true"):
                t.wave_override = last

    # ---- results ---------------------------------------------------------------------

    def _set(self, task: Task, status: str, state: str, message: str) -> None:
        """setResourceResult: the latest message is kept."""
        task.sync_status, task.op_state = status, state
        if message:
            task.message = message
        self.results[self._result_key(task)] = (task.sync_status, task.op_state, task.message)
        self.objects[self._result_key(task)] = task.obj

    def _finish(self, phase: str, message: str) -> None:
        self.phase, self.message = phase, message

    def _waiting(self, tasks: list[Task], deletion: bool = False) -> None:
        """setRunningPhase's message."""
        self.waiting_on = list(tasks)
        if not tasks:
            self._finish(RUNNING, "")
            return
        hooks = [t for t in tasks if t.is_hook]
        resources = [t for t in tasks if not t.is_hook]
        reason = "completion of hook" if hooks else "healthy state of"
        kind = "hooks" if not resources else "resources"
        if deletion:
            reason = "deletion of hook" if hooks else "deletion of"
        first = hooks[0] if hooks else resources[0]
        text = f"waiting for {reason} {first.group}/{first.kind}/{first.name}"
        if len(tasks) > 1:
            text += f" and {len(tasks) - 1} more {kind}"
        self._finish(RUNNING, text)

    # ---- Sync() ----------------------------------------------------------------------

    def step(self) -> None:
        if self.done:
            return
        tasks, ok = self._tasks()
        if not ok:
            errors = sorted({res[2] for res in self.results.values() if res[0] == SYNC_FAILED and res[2]})
            text = "one or more synchronization tasks are not valid"
            self._finish(FAILED, f"{text}: {'; '.join(errors)}" if errors else text)
            return
        if not self.results and not self._first_run(tasks):
            return
        self._update_running(tasks)
        multi = _wave(tasks, 0) != _wave(tasks, -1) or tasks[0].phase != tasks[-1].phase if tasks else False
        running = [t for t in tasks if (multi or t.is_hook) and t.running()]
        if running:
            for t in running:
                if t.live is None and self.cluster.get(self._key(t.obj)) is None:
                    self._set(
                        t,
                        SYNC_FAILED,
                        ERROR,
                        f"Resource {t.group}/{t.kind}/{t.name} is missing, it might have been deleted",
                    )
            self._waiting(running)
            return
        self._continue(tasks)

    def _first_run(self, tasks: list[Task]) -> bool:
        """Create the app namespace, then the dry run of every task (once per operation)."""
        dry = tasks
        ns_task = next(
            (
                t
                for t in tasks
                if t.live is None and t.kind == "Namespace" and t.group == "" and t.name == self.namespace
            ),
            None,
        )
        if ns_task is not None:
            if self._run([ns_task], dry_run=False) == "failed":
                self._fail([], [ns_task], "the namespace failed to apply")
                return False
            dry = [t for t in tasks if t is not ns_task]
        if self._run(dry, dry_run=True) == "failed":
            self._finish(FAILED, "one or more objects failed to apply (dry run)")
            return False
        return True

    def _update_running(self, tasks: list[Task]) -> None:
        for t in tasks:
            if not t.running() or t.live is None:
                continue
            health = self.health(t.live)
            if t.is_hook:
                state, message = _operation_phase(t.live, health)
                self._set(t, t.sync_status, state, message)
            elif health is None or health.status == "Healthy":
                self._set(t, t.sync_status, SUCCEEDED, health.message if health else t.message)
            elif health.status == "Degraded":
                self._set(t, t.sync_status, FAILED, health.message)

    def _continue(self, tasks: list[Task]) -> None:
        succeeded_hooks = [
            t
            for t in tasks
            if t.is_hook and t.live is not None and not t.running() and t.delete_on_phase_successful()
        ]
        failed_hooks = [
            t
            for t in tasks
            if t.is_hook and t.live is not None and not t.running() and t.delete_on_phase_failed()
        ]
        fail_tasks = [t for t in tasks if t.phase == SYNC_FAIL]
        tasks = [t for t in tasks if t.phase != SYNC_FAIL]
        sync_failed = [t for t in tasks if t.sync_status == SYNC_FAILED]
        if any(t.completed() and not t.successful() for t in tasks):
            self._delete_hooks(failed_hooks)
            self._fail(fail_tasks, sync_failed, "one or more synchronization tasks completed unsuccessfully")
            return
        tasks = [t for t in tasks if t.pending()]
        if not tasks:
            self._delete_hooks(succeeded_hooks)
            self._finish(SUCCEEDED, "successfully synced (no more tasks)")
            return
        phase, wave = tasks[0].phase, tasks[0].wave()
        current = [t for t in tasks if t.phase == phase and t.wave() == wave]
        remaining = [t for t in tasks if not (t.phase == phase and t.wave() == wave)]
        self._finish(RUNNING, "one or more tasks are running")
        state = self._run(current, dry_run=False)
        if state == "failed":
            failed = [t for t in current if t.sync_status == SYNC_FAILED]
            hooks_running = [t for t in current if t.running()]
            if hooks_running:
                self._waiting(hooks_running)
            elif self._fail(fail_tasks, failed, "one or more objects failed to apply"):
                self._delete_hooks(failed_hooks)
        elif state == "successful":
            if not remaining and not any(t.is_hook for t in current):
                self._delete_hooks(succeeded_hooks)
                self._finish(SUCCEEDED, "successfully synced (all tasks run)")
            else:
                self._waiting(current)
        else:
            self._waiting(
                [t for t in current if t.delete_before_creation() or (t.is_prune and t.pending())],
                deletion=True,
            )

    def _fail(self, fail_tasks: list[Task], failed: list[Task], message: str) -> bool:
        """executeSyncFailPhase: run SyncFail hooks, then fail with the failed tasks' messages."""
        reasons = sorted({t.message for t in failed})
        text = f"{message}, reason: {','.join(reasons)}" if reasons else message
        if not fail_tasks or all(t.completed() for t in fail_tasks):
            self._finish(FAILED, text)
            return True
        pending = [t for t in fail_tasks if not t.completed() and not t.running()]
        self._run(pending, dry_run=False)
        self._waiting(pending)
        return False

    def _delete_hooks(self, hooks: list[Task]) -> None:
        for t in hooks:
            if self.cluster.delete(self._key(t.obj)):
                self.deleted.append(str(self._key(t.obj)))

    # ---- runTasks --------------------------------------------------------------------

    def _run(self, tasks: list[Task], dry_run: bool) -> str:
        """runTasks: prune, delete hooks that are re-created, then apply kind by kind."""
        state = "successful"
        for t in [t for t in tasks if t.is_prune]:
            status, message = (
                (PRUNE_SKIPPED, "ignored (requires pruning)")
                if not self.settings.prune
                else (PRUNED, "pruned")
            )
            if not dry_run and status == PRUNED:
                self.cluster.delete(self._key(t.obj))
                self.deleted.append(str(self._key(t.obj)))
            if not dry_run:
                self._set(t, status, _RESULT_PHASE[status], message)
        creates = [t for t in tasks if not t.is_prune]
        for t in [t for t in creates if t.delete_before_creation()]:
            if not dry_run and self.cluster.delete(self._key(t.obj)):
                self.deleted.append(str(self._key(t.obj)))
                state = "pending"
        if state != "successful":
            return state
        keys = []
        for t in creates:
            if dry_run and t.skip_dry_run:
                continue
            status, message = self._apply(t, dry_run)
            if status == SYNC_FAILED:
                state = "failed"
            if not dry_run or status == SYNC_FAILED:
                self._set(t, status, _RESULT_PHASE[status], message)
            if not dry_run and status == SYNCED:
                keys.append(str(self._key(t.obj)))
        if not dry_run and creates:
            self.applied.append(Applied(creates[0].phase, creates[0].wave(), keys))
        return state

    def _apply(self, task: Task, dry_run: bool) -> tuple[str, str]:
        """applyObject. A client dry run needs the kind to be known (the REST mapping)."""
        assert task.target is not None
        try:
            if dry_run:
                self.cluster.discover(task.group, api_version(task.target), task.kind)
            else:
                self.cluster.apply(task.target, owner=self.app if task.tracked else None)
        except ApplyError as exc:
            return SYNC_FAILED, str(exc)
        verb = "configured" if task.live is not None else "created"
        return SYNCED, f"{task.kind.lower()}.{task.group or 'core'}/{task.name} {verb}"


def _wave(tasks: list[Task], index: int) -> int:
    return tasks[index].wave() if tasks else 0


def _operation_phase(live: Obj, health: Health | None) -> tuple[str, str]:
    """getOperationPhase: a hook's state from its health."""
    if health is None:
        return SUCCEEDED, f"{name_of(live)} created"
    if health.status in ("Unknown", "Degraded"):
        return FAILED, health.message
    if health.status in ("Progressing", "Suspended"):
        return RUNNING, health.message
    if health.status == "Healthy":
        return SUCCEEDED, health.message
    return SUCCEEDED, f"{name_of(live)} created"
