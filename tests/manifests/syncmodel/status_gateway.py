"""The status a Gateway API controller writes: Envoy Gateway v1.9 (the only one the profiles
install, addons.py GATEWAY_CONTROLLERS).

A GatewayClass is Accepted when a running controller serves its controllerName and its
parametersRef (an EnvoyProxy) exists. A Gateway is Programmed when it has an address
(internal/gatewayapi/status/gateway.go UpdateGatewayStatusProgrammedCondition): a LoadBalancer
Service's published address, a ClusterIP Service's cluster IP, a NodePort Service's node
addresses; otherwise Programmed=False "No addresses have been assigned to the Gateway". With no
controller, Gateways keep their CRD's default status ("Waiting for controller") and routes get
no parent status at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.manifests.syncmodel.addons import GATEWAY_CONTROLLERS
from tests.manifests.syncmodel.objects import Obj, condition, name_of, namespace_of
from tests.manifests.syncmodel.status_core import Observed, default_status, generation, new_condition

if TYPE_CHECKING:
    from tests.manifests.syncmodel.cluster import Cluster

GW = "gateway.networking.k8s.io"


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
    gen = generation(obj)
    if problem:
        return Observed(
            {"conditions": [new_condition("Accepted", False, "InvalidParameters", problem, gen)]},
            f"Envoy Gateway rejects the class: {problem}",
        )
    return Observed(
        {"conditions": [new_condition("Accepted", True, "Accepted", "Valid GatewayClass", gen)]},
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
    gen = generation(obj)
    addresses, how = _gateway_addresses(cluster, obj, cls)
    programmed = (
        new_condition(
            "Programmed",
            True,
            "Programmed",
            "Address assigned to the Gateway, 1/1 envoy replicas available",
            gen,
        )
        if addresses
        else new_condition(
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
        refs = new_condition(
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
                    new_condition("Accepted", True, "Accepted", "Listener is accepted", gen),
                    refs,
                    new_condition("Programmed", not missing, "Programmed", "Listener is programmed", gen),
                ],
            }
        )
    status = {
        "addresses": [{"type": "IPAddress", "value": a} for a in addresses],
        "listeners": listeners,
        "conditions": [
            new_condition(
                "Accepted", True, "Accepted", "The Gateway has been scheduled by Envoy Gateway", gen
            ),
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
    ns, gen = namespace_of(obj), generation(obj)
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
                    new_condition(
                        "Accepted",
                        not refused,
                        "NotAllowedByListeners" if refused else "Accepted",
                        refused or "Route is accepted",
                        gen,
                    ),
                    new_condition(
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


OBSERVERS = {
    (GW, "GatewayClass"): observe_gatewayclass,
    (GW, "Gateway"): observe_gateway,
    (GW, "HTTPRoute"): observe_route,
    (GW, "GRPCRoute"): observe_route,
}
