"""The status External Secrets Operator v2.9 writes, and the Secrets it makes.

A store is Ready when its provider can authenticate on the profile (AWS: static keys in a
Secret, IRSA through an annotated service account, or the controller's own identity through
EKS Pod Identity; the fake provider always). An ExternalSecret is Ready when ESO runs, its
store exists, admits the namespace and is Ready, and every remote value it names exists; it
then writes its target Secret with the keys it lists. Anything else is Ready=False, which
Argo CD's ExternalSecret.lua reports as Degraded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.objects import Obj, name_of, namespace_of, selects
from tests.manifests.syncmodel.status_core import Observed, default_status

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster

ESO = "external-secrets.io"


def _store_of(cluster: Cluster, es: Obj) -> tuple[Obj | None, str]:
    ref = es["spec"].get("secretStoreRef") or {}
    kind = ref.get("kind", "SecretStore")
    store = cluster.lookup(ESO, kind, namespace_of(es), ref.get("name", ""))
    return store, f'could not get {kind} "{ref.get("name")}", {kind}.{ESO} "{ref.get("name")}" not found'


CREATE, VALIDATE = "unable to create client", "unable to validate store"  # secretstore/common.go


def _aws_credentials(cluster: Cluster, store: Obj, auth: dict[str, Any]) -> tuple[str, str] | None:
    """Why the AWS provider cannot authenticate on this profile, as (the store's condition
    message, detail), or None when it can. Static keys and jwt (IRSA) are read when the client
    is created; the controller's own credentials (no auth block: IRSA on its service account or
    EKS Pod Identity) only when the store is validated (SecretsManager.Validate)."""
    aws = cluster.profile.aws
    if "secretRef" in auth:
        ref = auth["secretRef"].get("accessKeyIDSecretRef") or {}
        ns = ref.get("namespace") or namespace_of(store)
        if cluster.lookup("", "Secret", ns, ref.get("name", "")) is None:
            return CREATE, f"secret {ns}/{ref.get('name')} with the access keys does not exist"
        return None
    if "jwt" in auth:
        sa_ref = auth["jwt"].get("serviceAccountRef") or {}
        problem = _irsa(
            cluster, sa_ref.get("namespace") or namespace_of(store), sa_ref.get("name", ""), "jwt auth"
        )
        return (CREATE, problem) if problem else None
    if aws is None:
        return VALIDATE, f"no AWS credentials exist on the {cluster.profile.name} profile"
    ns, name = cluster.identities.get("external-secrets", ("external-secrets", "external-secrets"))
    if (ns, name) in aws.pod_identity:
        return None
    problem = _irsa(cluster, ns, name, "the controller's own credentials (no auth block)")
    return (
        (VALIDATE, f"{problem}, and no EKS Pod Identity association names {ns}/{name}") if problem else None
    )


def _irsa(cluster: Cluster, ns: str, name: str, how: str) -> str | None:
    sa = cluster.lookup("", "ServiceAccount", ns, name)
    if sa is None:
        return f"{how}: service account {ns}/{name} does not exist"
    arn = (sa["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn", "")
    if not arn:
        return f"{how}: service account {ns}/{name} has no eks.amazonaws.com/role-arn annotation (IRSA)"
    if not (cluster.profile.aws and cluster.profile.aws.irsa):
        return f"{how}: IRSA is not available on the {cluster.profile.name} profile"
    return None


def store_ready(cluster: Cluster, store: Obj) -> tuple[bool | None, str, str]:
    """(ready, the Ready condition's message, detail); ready None when the model cannot tell."""
    provider = (store.get("spec") or {}).get("provider") or {}
    if "fake" in provider:
        return True, "store validated", "the fake provider"
    if "aws" in provider:
        problem = _aws_credentials(cluster, store, provider["aws"].get("auth") or {})
        if problem:
            return False, problem[0], problem[1]
        return True, "store validated", "AWS credentials available"
    text = f"the model does not simulate the provider(s) {sorted(provider)}"
    return None, text, text


# what a provider answers for one remote reference (providers/v1/aws/secretsmanager GetSecret)
FOUND, NO_SECRET, NO_PROPERTY = "found", "no secret", "no property"


def _remote_value(cluster: Cluster, store: Obj, key: str, prop: str | None, secret_key: str | None) -> str:
    """FOUND, NO_SECRET (esv1.NoSecretErr: the remote secret does not exist) or NO_PROPERTY
    ("key X does not exist in secret Y"). secret_key is the Kubernetes Secret key it would fill."""
    provider = store["spec"]["provider"]
    if "fake" in provider:
        for item in provider["fake"].get("data") or []:
            if item.get("key") == key:
                if prop is None:
                    return FOUND
                try:
                    return FOUND if prop in json.loads(item.get("value", "{}")) else NO_PROPERTY
                except json.JSONDecodeError:
                    return NO_PROPERTY
        return NO_SECRET
    aws = cluster.profile.aws
    if aws is not None and secret_key not in aws.missing_secret_keys:
        return FOUND
    # the value is not stored: a property of a JSON secret that holds others, or a secret of its own
    return NO_PROPERTY if prop else NO_SECRET


def _namespace_allowed(cluster: Cluster, store: Obj, ns: str) -> bool:
    conditions = (store.get("spec") or {}).get("conditions")
    if store["kind"] != "ClusterSecretStore" or not conditions:
        return True
    ns_labels = cluster.namespace_labels(ns)
    for c in conditions:
        if ns in (c.get("namespaces") or []):
            return True
        sel = c.get("namespaceSelector")
        if sel is not None and selects(sel, ns_labels):
            return True
    return False


@dataclass(frozen=True)
class Sync:
    """What ESO's reconcile ends with: the Ready condition and the Secret's keys (None: no Secret)."""

    ready: bool | None  # None: the model cannot tell
    reason: str
    message: str  # the condition's message, as Argo CD shows it
    detail: str  # the model's account (ESO puts the error in an event, not the condition)
    keys: set[str] | None = None


FAILED_READ = "could not get secret data from provider"  # externalsecret_controller.go msgErrorGetSecretData


def _es_result(cluster: Cluster, es: Obj) -> Sync:
    """externalsecret_controller.go Reconcile and GetProviderSecretData (ESO v2.9.0)."""
    store, missing = _store_of(cluster, es)
    if store is None:
        return Sync(False, "SecretSyncedError", FAILED_READ, missing)
    ns = namespace_of(es)
    if not _namespace_allowed(cluster, store, ns):
        detail = f'using ClusterSecretStore "{name_of(store)}" is not allowed from namespace "{ns}"'
        return Sync(False, "SecretSyncedError", FAILED_READ, detail)
    ready, _, detail = store_ready(cluster, store)
    if ready is None:
        return Sync(None, "", detail, detail)
    if not ready:
        detail = f'{store["kind"]} "{name_of(store)}" is not ready ({detail})'
        return Sync(False, "SecretSyncedError", FAILED_READ, detail)
    target = es["spec"].get("target") or {}
    policy = target.get("deletionPolicy") or "Retain"
    keys: set[str] = set()
    skipped = []
    refs = [
        (i["remoteRef"]["key"], i["remoteRef"].get("property"), i["secretKey"])
        for i in es["spec"].get("data") or []
    ]
    for item in es["spec"].get("dataFrom") or []:
        if "extract" not in item:
            return Sync(None, "", "", "the model only follows dataFrom.extract")
        refs.append((item["extract"]["key"], None, None))
    for key, prop, secret_key in refs:
        answer = _remote_value(cluster, store, key, prop, secret_key)
        if answer == NO_SECRET and policy != "Retain":
            skipped.append(key)  # event MissingProviderSecret, and on to the next reference
            continue
        if answer != FOUND:
            what = (
                f"key {prop} does not exist in secret {key}"
                if answer == NO_PROPERTY
                else f"secret {key} does not exist"
            )
            return Sync(False, "SecretSyncedError", FAILED_READ, f"{what} (deletionPolicy {policy})")
        if secret_key is not None:
            keys.add(secret_key)
        else:
            extracted = _extracted(store, key)
            if extracted is None:
                return Sync(None, "", "", f"the model cannot tell which keys {key} holds in this provider")
            keys |= extracted
    note = f"; skipped missing {', '.join(skipped)} (deletionPolicy {policy})" if skipped else ""
    if not keys and policy == "Delete":
        return Sync(
            True, "SecretDeleted", "secret deleted due to DeletionPolicy=Delete", "no remote data" + note
        )
    if not keys and policy == "Retain":
        return Sync(
            True, "SecretSynced", "secret retained due to DeletionPolicy=Retain", "no remote data" + note
        )
    template = target.get("template") or {}
    if template.get("data") is not None:
        keys = set(template["data"]) | (keys if template.get("mergePolicy") == "Merge" else set())
    return Sync(True, "SecretSynced", "secret synced", f"writes Secret keys {sorted(keys)}{note}", keys)


def _extracted(store: Obj, key: str) -> set[str] | None:
    """The properties of a remote JSON secret, where the model knows them (fake provider)."""
    provider = store["spec"]["provider"]
    for item in (provider.get("fake") or {}).get("data") or []:
        if item.get("key") == key:
            try:
                return set(json.loads(item.get("value", "{}")))
            except json.JSONDecodeError:
                return set()
    return None


def external_secret_keys(cluster: Cluster, ns: str, secret: str) -> set[str] | None:
    """The keys of the Secret an ExternalSecret in ns writes under that name, if it writes one."""
    if "external-secrets" not in cluster.controllers:
        return None
    for es in cluster.find(ESO, "ExternalSecret", ns):
        target = ((es["spec"].get("target") or {}).get("name")) or name_of(es)
        if target == secret:
            result = _es_result(cluster, es)
            if result.ready and result.keys is not None:
                return result.keys
    return None


def observe_external_secret(cluster: Cluster, obj: Obj) -> Observed:
    if "external-secrets" not in cluster.controllers:
        return default_status(cluster, obj, "External Secrets Operator does not run on this cluster")
    result = _es_result(cluster, obj)
    if result.ready is None:
        return Observed(None, result.detail, unknown=result.detail)
    condition = {
        "type": "Ready",
        "status": "True" if result.ready else "False",
        "reason": result.reason,
        "message": result.message,
    }
    return Observed({"conditions": [condition]}, result.detail)


def observe_store(cluster: Cluster, obj: Obj) -> Observed:
    if "external-secrets" not in cluster.controllers:
        return default_status(cluster, obj, "External Secrets Operator does not run on this cluster")
    ready, message, detail = store_ready(cluster, obj)
    if ready is None:
        return Observed(None, detail, unknown=detail)
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "Valid" if ready else "InvalidProviderConfig",
        "message": message,
    }
    return Observed({"conditions": [condition]}, detail)


OBSERVERS = {
    (ESO, "ExternalSecret"): observe_external_secret,
    (ESO, "SecretStore"): observe_store,
    (ESO, "ClusterSecretStore"): observe_store,
}
