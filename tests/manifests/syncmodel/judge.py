"""An object's health as Argo CD would see it on the simulated cluster: the status the
cluster's controllers write (status_core.py, status_addons.py), judged by Argo CD's rules
(health.py). Objects no rule judges need no status: Argo CD treats them as done."""

from __future__ import annotations

from dataclasses import dataclass

from tests.manifests.syncmodel import status_addons, status_core, status_gateway, status_secrets
from tests.manifests.syncmodel.cluster import Cluster
from tests.manifests.syncmodel.health import Health, HealthRules
from tests.manifests.syncmodel.objects import Obj, api_group, deep

OBSERVERS = {
    **status_core.OBSERVERS,
    **status_gateway.OBSERVERS,
    **status_secrets.OBSERVERS,
    **status_addons.OBSERVERS,
}


@dataclass(frozen=True)
class Judgement:
    health: Health | None  # None: no rule judges this kind
    cause: str  # the model's account of the status (why a controller wrote what it did)
    unknown: str | None = None  # the model cannot tell: reported, and fails the test

    def describe(self) -> str:
        if self.health is None:
            return "no health check (counts as Healthy)"
        text = self.health.status or "(empty status)"
        if self.health.message:
            text += f' "{self.health.message}"'
        return f"{text} [{self.health.rule}; {self.cause}]"


def judge(cluster: Cluster, rules: HealthRules, obj: Obj) -> Judgement:
    group, kind = api_group(obj), obj["kind"]
    if not rules.has_health(group, kind):
        return Judgement(None, "no health check")
    observer = OBSERVERS.get((group, kind))
    if observer is None:
        why = f"the model does not know what writes the status of {group}/{kind}"
        return Judgement(Health("Unknown", why, "model"), why, unknown=why)
    observed = observer(cluster, obj)
    if observed.unknown:
        return Judgement(
            Health("Unknown", observed.unknown, "model"), observed.cause, unknown=observed.unknown
        )
    view = deep(obj)
    if observed.status is not None:
        view["status"] = observed.status
    else:
        view.pop("status", None)
    return Judgement(rules.judge(view), observed.cause)
