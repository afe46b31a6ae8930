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
from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.objects import Obj, name_of, namespace_of
from tests.manifests.syncmodel.status_core import Observed, default_status

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster

ESO = "external-secrets.io"


def _store_of(cluster: Cluster, es: Obj) -> tuple[Obj | None, str]:
    ref = es["spec"].get("secretStoreRef") or {}
    kind = ref.get("kind", "SecretStore")
    store = cluster.lookup(ESO, kind, namespace_of(es), ref.get("name", ""))
    return store, f'could not get {kind} "{ref.get("name")}", {kind}.{ESO} "{ref.get("name")}" not found'


def _aws_credentials(cluster: Cluster, store: Obj, auth: dict[str, Any]) -> str | None:
    """Why the AWS provider cannot authenticate on this profile, or None when it can."""
    aws = cluster.profile.aws
    if aws is None:
        return f"no AWS credentials exist on the {cluster.profile.name} profile"
    if "secretRef" in auth:
        ref = auth["secretRef"].get("accessKeyIDSecretRef") or {}
        ns = ref.get("namespace") or namespace_of(store)
        return (
            None
            if cluster.lookup("", "Secret", ns, ref.get("name", ""))
            else f"secret {ns}/{ref.get('name')} missing"
        )
    if "jwt" in auth:
        sa_ref = auth["jwt"].get("serviceAccountRef") or {}
        ns, name = sa_ref.get("namespace") or namespace_of(store), sa_ref.get("name", "")
        return _irsa(cluster, ns, name, "jwt auth")
    ns, name = cluster.identities.get("external-secrets", ("external-secrets", "external-secrets"))
    if (ns, name) in aws.pod_identity:
        return None
    return _irsa(cluster, ns, name, "the controller's own credentials (no auth block)")


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


def store_ready(cluster: Cluster, store: Obj) -> tuple[bool | None, str]:
    """(ready, message); ready None when the model cannot tell this provider."""
    provider = (store.get("spec") or {}).get("provider") or {}
    if "fake" in provider:
        return True, "store validated"
    if "aws" in provider:
        problem = _aws_credentials(cluster, store, provider["aws"].get("auth") or {})
        return (problem is None), problem or "store validated"
    return None, f"the model does not simulate the provider(s) {sorted(provider)}"


def _remote_value(cluster: Cluster, store: Obj, key: str, prop: str | None, secret_key: str | None) -> bool:
    """Whether the provider holds remote key (and property); secret_key is the Kubernetes
    Secret key it would fill (None for dataFrom)."""
    provider = store["spec"]["provider"]
    if "fake" in provider:
        for item in provider["fake"].get("data") or []:
            if item.get("key") == key:
                if prop is None:
                    return True
                try:
                    return prop in json.loads(item.get("value", "{}"))
                except json.JSONDecodeError:
                    return False
        return False
    aws = cluster.profile.aws
    return aws is not None and secret_key not in aws.missing_secret_keys


def _namespace_allowed(cluster: Cluster, store: Obj, ns: str) -> bool:
    conditions = (store.get("spec") or {}).get("conditions")
    if store["kind"] != "ClusterSecretStore" or not conditions:
        return True
    ns_labels = cluster.namespace_labels(ns)
    for c in conditions:
        if ns in (c.get("namespaces") or []):
            return True
        sel = c.get("namespaceSelector")
        if sel is not None and _selects(sel, ns_labels):
            return True
    return False


def _selects(sel: dict[str, Any], lbls: dict[str, str]) -> bool:
    if any(lbls.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    for e in sel.get("matchExpressions") or []:
        value, op, values = lbls.get(e["key"]), e["operator"], e.get("values") or []
        if (
            (op == "In" and value not in values)
            or (op == "NotIn" and value in values)
            or (op == "Exists" and value is None)
            or (op == "DoesNotExist" and value is not None)
        ):
            return False
    return True


def _es_result(cluster: Cluster, es: Obj) -> tuple[bool | None, str, set[str]]:
    """(ready, message, secret keys written)."""
    if "external-secrets" not in cluster.controllers:
        return False, "External Secrets Operator does not run on this cluster", set()
    store, missing = _store_of(cluster, es)
    if store is None:
        return False, missing, set()
    ns = namespace_of(es)
    if not _namespace_allowed(cluster, store, ns):
        return (
            False,
            f'using ClusterSecretStore "{name_of(store)}" is not allowed from namespace "{ns}"',
            set(),
        )
    ready, message = store_ready(cluster, store)
    if ready is None:
        return None, message, set()
    if not ready:
        return False, f'{store["kind"]} "{name_of(store)}" is not ready: {message}', set()
    keys, absent = set(), []
    for item in es["spec"].get("data") or []:
        ref = item["remoteRef"]
        if _remote_value(cluster, store, ref["key"], ref.get("property"), item["secretKey"]):
            keys.add(item["secretKey"])
        else:
            absent.append(ref["key"] + (f" (property {ref['property']})" if ref.get("property") else ""))
    for item in es["spec"].get("dataFrom") or []:
        if "extract" not in item:
            return None, "the model only follows dataFrom.extract", set()
        key = item["extract"]["key"]
        extracted = _extracted(store, key)
        if extracted is None:
            return None, f"the model cannot tell which keys {key} holds in this provider", set()
        if not _remote_value(cluster, store, key, None, None):
            absent.append(key)
        keys |= extracted
    if absent:
        return False, f"could not get secret data from provider: {', '.join(absent)} not in the store", set()
    template = (es["spec"].get("target") or {}).get("template") or {}
    if template.get("data") is not None:
        keys = set(template["data"]) | (keys if template.get("mergePolicy") == "Merge" else set())
    return True, "Secret was synced", keys


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
    """The keys of the Secret a Ready ExternalSecret in ns writes under that name."""
    for es in cluster.find(ESO, "ExternalSecret", ns):
        target = ((es["spec"].get("target") or {}).get("name")) or name_of(es)
        if target == secret:
            ready, _, keys = _es_result(cluster, es)
            if ready:
                return keys
    return None


def observe_external_secret(cluster: Cluster, obj: Obj) -> Observed:
    if "external-secrets" not in cluster.controllers:
        return default_status(cluster, obj, "External Secrets Operator does not run on this cluster")
    ready, message, _ = _es_result(cluster, obj)
    if ready is None:
        return Observed(None, message, unknown=message)
    return Observed(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "SecretSynced" if ready else "SecretSyncedError",
                    "message": message,
                }
            ]
        },
        message,
    )


def observe_store(cluster: Cluster, obj: Obj) -> Observed:
    if "external-secrets" not in cluster.controllers:
        return default_status(cluster, obj, "External Secrets Operator does not run on this cluster")
    ready, message = store_ready(cluster, obj)
    if ready is None:
        return Observed(None, message, unknown=message)
    return Observed(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "Valid" if ready else "InvalidProviderConfig",
                    "message": message,
                }
            ]
        },
        message,
    )


OBSERVERS = {
    (ESO, "ExternalSecret"): observe_external_secret,
    (ESO, "SecretStore"): observe_store,
    (ESO, "ClusterSecretStore"): observe_store,
}
