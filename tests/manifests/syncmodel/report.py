"""What went wrong in a bootstrap, in words a person can act on: which Application, phase and
wave, which object, the health Argo CD's rule gave (with the rule) and why the simulated
cluster wrote that status.

Categories (each test of tests/manifests/test_sync_model.py asserts one is empty):
- wave: an object in a wave that later waves wait on never turns Healthy (or a hook fails);
- sync: an operation fails or never starts for another reason (apply errors, the project,
  no automated sync, an ApplicationSet error);
- crd: a custom resource whose kind the API server does not serve when Argo CD needs it;
- end: an Application that does not end Synced and Healthy (the last wave counts here);
- unknown: something the model cannot tell; it fails rather than guess;
- timing: an operation that only succeeded on a retry, i.e. it depends on timing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.manifests.syncmodel.argocd import AppState
from tests.manifests.syncmodel.bootstrap import Run
from tests.manifests.syncmodel.objects import Obj, wave
from tests.manifests.syncmodel.waves import ERROR, FAILED, RUNNING, SUCCEEDED, SYNC_FAILED, SyncOperation

CATEGORIES = ("wave", "sync", "crd", "end", "unknown", "timing")
_DISCOVERY = re.compile(r'failed to discover server resources|"" not found$')


@dataclass(frozen=True)
class Finding:
    category: str
    app: str
    text: str

    def __str__(self) -> str:
        return f"[{self.category}] {self.app}: {self.text}"


def _where(obj: Obj, op: SyncOperation, phase: str = "") -> str:
    return f"{phase + ' ' if phase else ''}wave {wave(obj)}: {op.cluster.key(obj)}"


def _installers(run: Run, group: str, kind: str) -> str:
    found = []
    for app in run.argocd.apps.values():
        if app.install and any((c.group, c.kind) == (group, kind) for c in app.install.crds):
            found.append(f"{app.name} (created by {app.parent})")
        if any(
            t.get("kind") == "CustomResourceDefinition"
            and (t.get("spec") or {}).get("group") == group
            and ((t.get("spec") or {}).get("names") or {}).get("kind") == kind
            for t in app.targets
        ):
            found.append(f"{app.name} (created by {app.parent})")
    return (
        ("installed by " + ", ".join(found))
        if found
        else f"nothing in the {run.profile.name} profile installs it"
    )


def _operation_findings(run: Run, app: AppState, op: SyncOperation) -> list[Finding]:
    out = []
    if op.phase == RUNNING:
        for task in op.waiting_on:
            live = op.cluster.get(op.cluster.key(task.obj))
            verdict = run.argocd.judge(live) if live is not None else None
            what = verdict.describe() if verdict else "missing"
            out.append(
                Finding("wave", app.name, f"{_where(task.obj, op, task.phase)} never completes: {what}")
            )
            if verdict and verdict.unknown:
                out.append(Finding("unknown", app.name, f"{op.cluster.key(task.obj)}: {verdict.unknown}"))
        later = [o for o in app.targets if op.cluster.get(op.cluster.key(_ns(o, app))) is None]
        if later and out:
            waves = sorted({wave(o) for o in later})
            out[-1] = Finding(
                out[-1].category,
                app.name,
                out[-1].text + f" (so {len(later)} objects of waves {waves} are never applied; {op.message})",
            )
    if op.phase in (FAILED, ERROR, RUNNING):
        out += _failed_tasks(run, app, op)
    if op.phase in (FAILED, ERROR):
        out.append(Finding("sync", app.name, f"the sync fails: {op.message}"))
    return out


def _failed_tasks(run: Run, app: AppState, op: SyncOperation) -> list[Finding]:
    """Tasks that failed to apply, or whose health failed them (the operation fails for them,
    at once or once the tasks it still waits for are done)."""
    out = []
    later = " once the tasks it waits for finish" if op.phase == RUNNING else ""
    for rk, (status, state, message) in op.results.items():
        if status != SYNC_FAILED and state not in (FAILED, ERROR):
            continue
        obj, phase = op.objects[rk], rk.rsplit(":", 1)[1]
        if _DISCOVERY.search(message):
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            kind = f"{obj['apiVersion']} {obj['kind']}"
            text = (
                f"{_where(obj, op, phase)}: the API server does not serve {kind} when the sync needs it "
                f"({message}); {_installers(run, group, obj['kind'])}"
            )
            out.append(Finding("crd", app.name, text))
        elif status == SYNC_FAILED:
            out.append(Finding("sync", app.name, f"{_where(obj, op, phase)} cannot be applied: {message}"))
        else:
            live = op.cluster.get(op.cluster.key(obj))
            what = run.argocd.judge(live).describe() if live is not None else message
            out.append(Finding("wave", app.name, f"{_where(obj, op, phase)} fails the sync{later}: {what}"))
    return out


def _ns(obj: Obj, app: AppState) -> Obj:
    if obj.get("metadata", {}).get("namespace"):
        return obj
    return {**obj, "metadata": {**obj.get("metadata", {}), "namespace": app.destination.get("namespace", "")}}


def app_findings(run: Run, app: AppState) -> list[Finding]:
    if app.unknown:
        return [Finding("unknown", app.name, app.unknown)]
    if app.invalid:
        return [Finding("sync", app.name, f"never synced: {app.invalid}")]
    out: list[Finding] = []
    if app.addon is not None and app.addon_error:
        category = "crd" if "needs the CRDs" in app.addon_error else "sync"
        out.append(Finding(category, app.name, f"the add-on's sync fails: {app.addon_error}"))
    elif not app.automated:
        out.append(Finding("sync", app.name, "nothing syncs it: no automated sync policy"))
    if app.operation is not None:
        out += _operation_findings(run, app, app.operation)
        if app.operation.phase == SUCCEEDED and app.failures:
            out.append(
                Finding(
                    "timing", app.name, f"succeeded only on retry {app.attempts - 1} after: {app.failures[0]}"
                )
            )
    if app.sync_status != "Synced" or app.health.status != "Healthy":
        text = f"ends {app.sync_status} and {app.health.status or '(empty)'}"
        if app.health.message:
            text += f' "{app.health.message}"'
        details = [f"{key} {verdict.describe()}" for key, verdict in app.unhealthy]
        out.append(Finding("end", app.name, text + ("".join(f"\n      - {d}" for d in details))))
        out += [Finding("unknown", app.name, f"{key}: {v.unknown}") for key, v in app.unhealthy if v.unknown]
    return out


def findings(run: Run) -> list[Finding]:
    out: list[Finding] = []
    if not run.settled:
        out.append(Finding("unknown", "(bootstrap)", f"did not settle in {run.rounds} rounds"))
    for name, error in run.argocd.appset_errors.items():
        out.append(Finding("sync", f"ApplicationSet {name}", error))
    for app in run.argocd.apps.values():
        out += app_findings(run, app)
    seen, unique = set(), []
    for f in out:
        if (f.category, f.app, f.text) not in seen:
            seen.add((f.category, f.app, f.text))
            unique.append(f)
    return unique


def summary(run: Run) -> str:
    """One line per Application: how it ended, then the waves it applied."""
    lines = [
        f"profile {run.profile.name}: {', '.join(run.roots)} applied by hand; settled after {run.rounds} "
        f"rounds"
        if run.settled
        else f"profile {run.profile.name}: did NOT settle"
    ]
    for app in run.argocd.apps.values():
        op = app.operation
        phase = (
            f"operation {op.phase}: {op.message}" if op else "add-on (facts)" if app.addon else "no operation"
        )
        lines.append(f"  {app.name} [{app.parent}] {app.sync_status}/{app.health.status} - {phase}")
        for applied in op.applied if op else []:
            lines.append(f"      {applied.phase} wave {applied.wave}: {len(applied.keys)} applied")
    lines += [f"  note: {n}" for n in sorted(run.argocd.rules.notes)]
    return "\n".join(lines)


def format_findings(run: Run, items: list[Finding]) -> str:
    head = f"{run.profile.name} profile ({', '.join(run.roots)}):"
    return "\n".join([head] + [f"  {f}" for f in items])
