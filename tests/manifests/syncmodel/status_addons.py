"""The status the add-on controllers write, when the cluster runs them.

A custom resource whose controller is not installed keeps the status its CRD defaults it to
(the Gateway API CRDs default a Gateway to Accepted/Programmed Unknown "Waiting for
controller"), or none. Each controller's rules are the ones that decide health here, with the
source they were read from: Envoy Gateway v1.9 (internal/gatewayapi/status/gateway.go:
Programmed needs an address: a LoadBalancer Service's published address, a ClusterIP Service's
cluster IP, a NodePort Service's node addresses), External Secrets Operator v2.9 (a store
must exist, admit the namespace and authenticate; every remote key must exist), KEDA 2.20
(the scale target and the TriggerAuthentication's Secrets must exist) and Argo Rollouts 1.9
(the pods must start; referenced analysis templates must exist; the first rollout skips the
canary steps).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.addons import GATEWAY_CONTROLLERS
from tests.manifests.syncmodel.objects import Obj, condition, name_of, namespace_of
from tests.manifests.syncmodel.status_core import Observed, pod_problems

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster

GW = "gateway.networking.k8s.io"
ESO = "external-secrets.io"


def _gen(obj: Obj) -> int:
    return int(obj.get("metadata", {}).get("generation", 1))


def _cond(ctype: str, ok: bool, reason: str, message: str, gen: int) -> dict[str, Any]:
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
    }


def default_status(cluster: Cluster, obj: Obj, why: str) -> Observed:
    """No controller acts on obj: it keeps what its CRD defaults .status to, if anything."""
    served = cluster.served.get((obj["apiVersion"].split("/")[0], obj["kind"]))
    return Observed(
        json.loads(json.dumps(served.status_default)) if served and served.status_default else None, why
    )


# ---- Gateway API: Envoy Gateway --------------------------------------------------------


def _class_controller(cluster: Cluster, cls: Obj | None) -> str | None:
    if cls is None:
        return None
    controller = GATEWAY_CONTROLLERS.get(cls["spec"].get("controllerName", ""))
    return controller if controller in cluster.controllers else None


def _envoy_proxy(
    cluster: Cluster, ref: dict[str, Any] | None, default_ns: str
) -> tuple[Obj | None, str | None]:
    """The EnvoyProxy a parametersRef names: (object, problem)."""
    if not ref:
        return None, None
    if ref.get("group") != "gateway.envoyproxy.io" or ref.get("kind") != "EnvoyProxy":
        return None, f"parametersRef {ref.get('group')}/{ref.get('kind')} is not an EnvoyProxy"
    ns = ref.get("namespace") or default_ns
    proxy = cluster.lookup("gateway.envoyproxy.io", "EnvoyProxy", ns, ref["name"])
    return proxy, None if proxy else f'EnvoyProxy "{ns}/{ref["name"]}" not found'


def observe_gatewayclass(cluster: Cluster, obj: Obj) -> Observed:
    name = obj["spec"].get("controllerName", "")
    if _class_controller(cluster, obj) is None:
        return default_status(cluster, obj, f'no controller for controllerName "{name}" runs on this cluster')
    _, problem = _envoy_proxy(cluster, obj["spec"].get("parametersRef"), "")
    gen = _gen(obj)
    if problem:
        return Observed(
            {"conditions": [_cond("Accepted", False, "InvalidParameters", problem, gen)]},
            f"Envoy Gateway rejects the class: {problem}",
        )
    return Observed(
        {"conditions": [_cond("Accepted", True, "Accepted", "Valid GatewayClass", gen)]},
        "accepted by Envoy Gateway",
    )


def _gateway_handled(cluster: Cluster, gw: Obj) -> tuple[Obj | None, str]:
    """The accepted GatewayClass of a Gateway, or why no controller takes it."""
    class_name = gw["spec"].get("gatewayClassName", "")
    cls = cluster.lookup(GW, "GatewayClass", "", class_name)
    if cls is None:
        return None, f'GatewayClass "{class_name}" does not exist, so no controller takes the Gateway'
    if _class_controller(cluster, cls) is None:
        return None, (
            f'no controller for GatewayClass "{class_name}" (controllerName '
            f'"{cls["spec"].get("controllerName")}") runs on this cluster'
        )
    accepted = condition(observe_gatewayclass(cluster, cls).status, "Accepted")
    if not accepted or accepted.get("status") != "True":
        return None, f'GatewayClass "{class_name}" is not accepted'
    return cls, f'GatewayClass "{class_name}" accepted by Envoy Gateway'


def _gateway_addresses(cluster: Cluster, gw: Obj, cls: Obj) -> tuple[list[str], str]:
    ns = namespace_of(gw)
    infra = (gw["spec"].get("infrastructure") or {}).get("parametersRef")
    proxy, _ = _envoy_proxy(cluster, {**infra, "namespace": ns} if infra else None, ns)
    if proxy is None:
        proxy, _ = _envoy_proxy(cluster, cls["spec"].get("parametersRef"), "")
    service = ((((proxy or {}).get("spec") or {}).get("provider") or {}).get("kubernetes") or {}).get(
        "envoyService"
    ) or {}
    kind = service.get("type", "LoadBalancer")
    if kind == "ClusterIP":
        return ["10.96.0.100"], "the proxy Service is a ClusterIP: its cluster IP is the Gateway's address"
    if kind == "NodePort":
        ok = cluster.profile.node_addresses
        return (["172.18.0.2"] if ok else []), "the proxy Service is a NodePort: node addresses"
    address = cluster.profile.load_balancer
    if address:
        return [address], f"the proxy Service is a LoadBalancer and the cloud gives it {address}"
    nothing = f"nothing on the {cluster.profile.name} profile gives it an address"
    return [], f"the proxy Service is a LoadBalancer and {nothing}"


def observe_gateway(cluster: Cluster, obj: Obj) -> Observed:
    cls, why = _gateway_handled(cluster, obj)
    if cls is None:
        return default_status(cluster, obj, why)
    gen = _gen(obj)
    addresses, how = _gateway_addresses(cluster, obj, cls)
    programmed = (
        _cond(
            "Programmed",
            True,
            "Programmed",
            "Address assigned to the Gateway, 1/1 envoy replicas available",
            gen,
        )
        if addresses
        else _cond(
            "Programmed", False, "AddressNotAssigned", "No addresses have been assigned to the Gateway", gen
        )
    )
    listeners = []
    for listener in obj["spec"].get("listeners") or []:
        missing = [
            ref["name"]
            for ref in ((listener.get("tls") or {}).get("certificateRefs") or [])
            if cluster.lookup("", "Secret", ref.get("namespace") or namespace_of(obj), ref["name"]) is None
        ]
        refs = _cond(
            "ResolvedRefs",
            not missing,
            "InvalidCertificateRef" if missing else "ResolvedRefs",
            f"Secret {missing} not found" if missing else "Resolved references",
            gen,
        )
        listeners.append(
            {
                "name": listener["name"],
                "attachedRoutes": 0,
                "conditions": [
                    _cond("Accepted", True, "Accepted", "Listener is accepted", gen),
                    refs,
                    _cond("Programmed", not missing, "Programmed", "Listener is programmed", gen),
                ],
            }
        )
    status = {
        "addresses": [{"type": "IPAddress", "value": a} for a in addresses],
        "listeners": listeners,
        "conditions": [
            _cond("Accepted", True, "Accepted", "The Gateway has been scheduled by Envoy Gateway", gen),
            programmed,
        ],
    }
    return Observed(status, f"{why}; {how}")


def _listener_admits(gw: Obj, route: Obj, section: str | None) -> str | None:
    listeners = [li for li in gw["spec"].get("listeners") or [] if section is None or li["name"] == section]
    if not listeners:
        return f'Gateway {name_of(gw)} has no listener "{section}"'
    for li in listeners:
        allowed = ((li.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")
        if allowed == "Same" and namespace_of(gw) != namespace_of(route):
            continue
        host = li.get("hostname")
        names = route["spec"].get("hostnames") or []
        if host and names and not any(_host_match(host, n) for n in names):
            continue
        return None
    return f"no listener of Gateway {name_of(gw)} admits the route (namespace or hostname)"


def _host_match(listener: str, route: str) -> bool:
    if listener.startswith("*."):
        return route.endswith(listener[1:]) or route == listener
    return listener == route or (route.startswith("*.") and listener.endswith(route[1:]))


def observe_route(cluster: Cluster, obj: Obj) -> Observed:
    ns, gen = namespace_of(obj), _gen(obj)
    parents, causes = [], []
    for ref in obj["spec"].get("parentRefs") or []:
        gw = cluster.lookup(GW, ref.get("kind", "Gateway"), ref.get("namespace") or ns, ref["name"])
        if gw is None:
            causes.append(f'parent Gateway "{ref["name"]}" does not exist')
            continue
        cls, why = _gateway_handled(cluster, gw)
        if cls is None:
            causes.append(f"no controller takes parent {ref['name']}: {why}")
            continue
        refused = _listener_admits(gw, obj, ref.get("sectionName"))
        missing = [
            b["name"]
            for rule in obj["spec"].get("rules") or []
            for b in rule.get("backendRefs") or []
            if b.get("kind", "Service") == "Service"
            and cluster.lookup("", "Service", b.get("namespace") or ns, b["name"]) is None
        ]
        parents.append(
            {
                "parentRef": ref,
                "controllerName": cls["spec"]["controllerName"],
                "conditions": [
                    _cond(
                        "Accepted",
                        not refused,
                        "NotAllowedByListeners" if refused else "Accepted",
                        refused or "Route is accepted",
                        gen,
                    ),
                    _cond(
                        "ResolvedRefs",
                        not missing,
                        "BackendNotFound" if missing else "ResolvedRefs",
                        f"Service {', '.join(missing)} not found"
                        if missing
                        else "Resolved all the Object references for the Route",
                        gen,
                    ),
                ],
            }
        )
        causes.append(
            refused or (f"backends missing: {missing}" if missing else f"attached to {ref['name']}")
        )
    if not parents:
        return Observed(None, "; ".join(causes) or "no parentRefs")
    return Observed({"parents": parents}, "; ".join(causes))


# ---- External Secrets Operator --------------------------------------------------------


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


# ---- KEDA ------------------------------------------------------------------------------


def observe_scaledobject(cluster: Cluster, obj: Obj) -> Observed:
    if "keda" not in cluster.controllers:
        return default_status(cluster, obj, "KEDA does not run on this cluster")
    ns, spec = namespace_of(obj), obj["spec"]
    target = spec.get("scaleTargetRef") or {}
    group = (
        (target.get("apiVersion") or "apps/v1").split("/")[0]
        if "/" in (target.get("apiVersion") or "apps/v1")
        else ""
    )
    problems = []
    if cluster.lookup(group, target.get("kind", "Deployment"), ns, target.get("name", "")) is None:
        problems.append(f"scale target {target.get('kind', 'Deployment')}/{target.get('name')} not found")
    for trigger in spec.get("triggers") or []:
        auth = trigger.get("authenticationRef")
        if not auth:
            continue
        kind = auth.get("kind", "TriggerAuthentication")
        ta = cluster.lookup("keda.sh", kind, ns, auth["name"])
        if ta is None:
            problems.append(f"{kind} {auth['name']} not found")
            continue
        for ref in (ta.get("spec") or {}).get("secretTargetRef") or []:
            from tests.manifests.syncmodel.status_core import _secret_keys

            keys = _secret_keys(cluster, ns if kind == "TriggerAuthentication" else "keda", ref["name"])
            if keys is None or ref.get("key") not in keys:
                problems.append(f"{kind} {auth['name']}: secret {ref['name']} key {ref.get('key')} not found")
    if problems:
        message = "; ".join(problems)
        return Observed(
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ScaledObjectCheckFailed",
                        "message": message,
                    }
                ]
            },
            message,
        )
    return Observed(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ScaledObjectReady",
                    "message": "ScaledObject is defined correctly and is ready for scaling",
                },
                {
                    "type": "Active",
                    "status": "False",
                    "reason": "ScalerNotActive",
                    "message": "Scaling is not performed",
                },
                {
                    "type": "Fallback",
                    "status": "False",
                    "reason": "NoFallbackFound",
                    "message": "No fallbacks are active",
                },
            ]
        },
        "KEDA created its HorizontalPodAutoscaler (the trigger's connection is not simulated)",
    )


# ---- Argo Rollouts ---------------------------------------------------------------------


def _analysis_templates(spec: dict[str, Any]) -> list[tuple[str, bool]]:
    """(name, cluster-scoped) of every analysis template a Rollout names."""
    found = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for t in value.get("templates") or []:
                if isinstance(t, dict) and "templateName" in t:
                    found.append((t["templateName"], bool(t.get("clusterScope"))))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(spec.get("strategy") or {})
    return found


def observe_rollout(cluster: Cluster, obj: Obj) -> Observed:
    if "argo-rollouts" not in cluster.controllers:
        return default_status(cluster, obj, "Argo Rollouts does not run on this cluster")
    ns, spec, gen = namespace_of(obj), obj["spec"], _gen(obj)
    replicas = int(spec.get("replicas", 1))
    template = (spec.get("template") or {}).get("spec")
    ref = spec.get("workloadRef")
    if ref:
        workload = cluster.lookup("apps", ref.get("kind", "Deployment"), ns, ref["name"])
        template = (((workload or {}).get("spec") or {}).get("template") or {}).get("spec")
        if workload is None:
            return _rollout_degraded(gen, replicas, "InvalidSpec", f"workloadRef {ref['name']} not found")
    missing = [
        n
        for n, cluster_scope in _analysis_templates(spec)
        if cluster.lookup(
            "argoproj.io", "ClusterAnalysisTemplate" if cluster_scope else "AnalysisTemplate", ns, n
        )
        is None
    ]
    if missing:
        return _rollout_degraded(
            gen, replicas, "InvalidSpec", f"AnalysisTemplate {', '.join(missing)} not found"
        )
    canary = (spec.get("strategy") or {}).get("canary") or {}
    services = [canary.get(s) for s in ("canaryService", "stableService") if canary.get(s)]
    absent = [s for s in services if cluster.lookup("", "Service", ns, s) is None]
    if absent:
        return _rollout_degraded(gen, replicas, "InvalidSpec", f"Service {', '.join(absent)} not found")
    plugins = sorted((canary.get("trafficRouting") or {}).get("plugins") or {})
    if plugins:
        return Observed(
            None,
            f"traffic router plugins {plugins}",
            unknown=f"the model does not simulate Argo Rollouts traffic router plugins {plugins}",
        )
    problems = pod_problems(cluster, ns, template or {})
    if problems:
        return _rollout_degraded(gen, replicas, "ProgressDeadlineExceeded", "; ".join(problems))
    return Observed(
        {
            "observedGeneration": str(gen),
            "phase": "Healthy",
            "message": "",
            "currentPodHash": "model",
            "stableRS": "model",
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
        "the first rollout goes straight to the full replica count (steps apply to updates)",
    )


def _rollout_degraded(gen: int, replicas: int, reason: str, message: str) -> Observed:
    return Observed(
        {
            "observedGeneration": str(gen),
            "phase": "Degraded",
            "message": f"{reason}: {message}",
            "replicas": replicas,
        },
        message,
    )


# ---- Argo CD's own kinds, CRDs, Prometheus ---------------------------------------------


def observe_written(cluster: Cluster, obj: Obj) -> Observed:
    """Applications and ApplicationSets: the status the simulated Argo CD controllers wrote."""
    status = cluster.written.get(cluster.key(obj))
    return Observed(status, "as the Argo CD controllers reported it" if status else "not reconciled yet")


def observe_crd(cluster: Cluster, obj: Obj) -> Observed:
    return Observed(
        {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "message": "the initial names have been accepted"},
            ]
        },
        "established",
    )


def observe_prometheus(cluster: Cluster, obj: Obj) -> Observed:
    if "prometheus-operator" not in cluster.controllers:
        return default_status(cluster, obj, "the Prometheus Operator does not run on this cluster")
    return Observed({"conditions": [{"type": "Available", "status": "True"}]}, "the operator runs Prometheus")


OBSERVERS = {
    (GW, "GatewayClass"): observe_gatewayclass,
    (GW, "Gateway"): observe_gateway,
    (GW, "HTTPRoute"): observe_route,
    (GW, "GRPCRoute"): observe_route,
    (ESO, "ExternalSecret"): observe_external_secret,
    (ESO, "SecretStore"): observe_store,
    (ESO, "ClusterSecretStore"): observe_store,
    ("keda.sh", "ScaledObject"): observe_scaledobject,
    ("argoproj.io", "Rollout"): observe_rollout,
    ("argoproj.io", "Application"): observe_written,
    ("argoproj.io", "ApplicationSet"): observe_written,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): observe_crd,
    ("monitoring.coreos.com", "Prometheus"): observe_prometheus,
}
