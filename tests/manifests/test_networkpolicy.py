"""The NetworkPolicies of each rendered overlay, evaluated for every pair of peers and every
port in play, allow exactly the communication matrix below: nothing more, nothing less.

  anyone (other namespaces, the Gateway's Envoy proxy, the internet) -> frontend:3000, gateway:8080
  frontend -> gateway:8080
  gateway  -> chat:3001, orchestrator:8000, postgres:5432, redis:6379
  chat     -> orchestrator:8000, postgres, redis, public internet:443 (LLM APIs)
  orchestrator -> postgres, redis, public internet:443 (LLM APIs: the model planner)
  worker   -> postgres, redis, public internet:80/443 (never cluster, private or metadata)
  migrate  -> postgres
  every pod -> cluster DNS:53 (UDP and TCP)
  monitoring namespace -> each service's metrics port
  with KEDA (prod): the keda namespace -> redis:6379
  with tracing (staging, prod): the five services -> otel-collector:4317/4318 (in the namespace),
                               otel-collector -> the tracing backend in observability:4317/4318
"""

from __future__ import annotations

import itertools

import pytest

from tests.manifests.support import ENVS, Peer, Render, connection_allowed, containers, pod_labels

PORTS = [
    (53, "UDP"),
    (53, "TCP"),
    (80, "TCP"),
    (443, "TCP"),
    (3000, "TCP"),
    (3001, "TCP"),
    (4317, "TCP"),
    (4318, "TCP"),
    (5432, "TCP"),
    (6379, "TCP"),
    (8000, "TCP"),
    (8080, "TCP"),
    (9100, "TCP"),
    (22, "TCP"),
]
SERVICE_PORT = {
    "frontend": 3000,
    "gateway": 8080,
    "orchestrator": 8000,
    "chat": 3001,
    "worker": 9100,
    "postgres": 5432,
    "redis": 6379,
}


def _outside_peers() -> dict[str, Peer]:
    def ns(name: str) -> tuple[tuple[str, str], ...]:
        return (("kubernetes.io/metadata.name", name),)

    return {
        "internet": Peer("internet", None, ip="93.184.216.34"),
        "internet6": Peer("internet6", None, ip="2606:2800:220:1::1"),
        "private": Peer("private", None, ip="10.20.30.40"),
        "private172": Peer("private172", None, ip="172.20.0.10"),
        "metadata": Peer("metadata", None, ip="169.254.169.254"),
        "loopback": Peer("loopback", None, ip="127.0.0.1"),
        "cgnat": Peer("cgnat", None, ip="100.64.1.1"),
        "ula6": Peer("ula6", None, ip="fd00::1"),
        "kube-dns": Peer(
            "kube-dns", "kube-system", (("k8s-app", "kube-dns"),), ns("kube-system"), "10.96.0.10"
        ),
        "kube-system-other": Peer("kube-system-other", "kube-system", (("app", "x"),), ns("kube-system")),
        # Envoy Gateway runs each Gateway's proxy in its own namespace
        "envoy-proxy": Peer(
            "envoy-proxy",
            "envoy-gateway-system",
            (
                ("app.kubernetes.io/name", "envoy"),
                ("gateway.envoyproxy.io/owning-gateway-name", "agent-system"),
            ),
            ns("envoy-gateway-system"),
        ),
        "other-namespace": Peer(
            "other-namespace", "default", (("app.kubernetes.io/name", "postgres"),), ns("default")
        ),
        "monitoring": Peer("monitoring", "monitoring", (("app", "prometheus"),), ns("monitoring")),
        "keda": Peer("keda", "keda", (("app", "keda-operator"),), ns("keda")),
        "trace-backend": Peer("trace-backend", "observability", (("app", "tempo"),), ns("observability")),
    }


def _expected(env: str, own: set[str]) -> set[tuple[str, str, int, str]]:
    allowed: set[tuple[str, str, int, str]] = set()

    def allow(src: str, dst: str, *ports: int, proto: str = "TCP") -> None:
        for port in ports:
            allowed.add((src, dst, port, proto))

    outside = set(_outside_peers())
    public = {"internet", "internet6"}
    # the edge: anyone outside the namespace reaches the page and the API (pods inside go by
    # the matrix: only the frontend calls the gateway)
    for src in outside:
        allow(src, "frontend", 3000)
        allow(src, "gateway", 8080)
    allow("frontend", "gateway", 8080)
    allow("gateway", "chat", 3001)
    for src in ("gateway", "chat"):
        allow(src, "orchestrator", 8000)
    for src in ("gateway", "chat", "orchestrator", "worker"):
        allow(src, "postgres", 5432)
        allow(src, "redis", 6379)
    allow("migrate", "postgres", 5432)
    for dst in public:
        allow("chat", dst, 443)
        allow("orchestrator", dst, 443)
        allow("worker", dst, 80, 443)
    for src in own:
        allow(src, "kube-dns", 53, proto="UDP")
        allow(src, "kube-dns", 53, proto="TCP")
    for name in ("frontend", "gateway", "orchestrator", "chat", "worker"):
        allow("monitoring", name, SERVICE_PORT[name])
    if env == "prod":
        allow("keda", "redis", 6379)
    if env in ("staging", "prod"):
        for name in ("frontend", "gateway", "orchestrator", "chat", "worker"):
            allow(name, "otel-collector", 4317, 4318)
        allow("otel-collector", "trace-backend", 4317, 4318)
    # traffic between two outside peers is none of our business
    return {a for a in allowed if a[0] in own or a[1] in own}


def _own_peers(r: Render, namespace: str) -> dict[str, Peer]:
    peers = {}
    for i, doc in enumerate(r.of_kind("Deployment", "StatefulSet", "Job", "Rollout")):
        labels = tuple(sorted(pod_labels(doc).items()))
        ports = tuple((p["name"], p["containerPort"]) for c in containers(doc) for p in c.get("ports", []))
        peers[doc["metadata"]["name"]] = Peer(
            doc["metadata"]["name"],
            namespace,
            labels,
            (("kubernetes.io/metadata.name", namespace),),
            f"10.244.1.{i + 2}",
            ports,
        )
    return peers


@pytest.mark.parametrize("env", ENVS)
def test_network_policies_allow_exactly_the_matrix(rendered: dict[str, Render], env: str) -> None:
    r = rendered[env]
    namespace = f"agent-system-{env}"
    policies = r.of_kind("NetworkPolicy")
    own = _own_peers(r, namespace)
    assert set(own) == {
        "frontend",
        "gateway",
        "orchestrator",
        "chat",
        "worker",
        "postgres",
        "redis",
        "migrate",
    } | ({"otel-collector"} if env in ("staging", "prod") else set())
    peers = {**own, **_outside_peers()}
    expected = _expected(env, set(own))

    actual = set()
    for (src_name, src), (dst_name, dst) in itertools.product(peers.items(), repeat=2):
        if src_name == dst_name or (src.namespace != namespace and dst.namespace != namespace):
            continue
        for port, proto in PORTS:
            if connection_allowed(policies, src, dst, port, proto, namespace):
                actual.add((src_name, dst_name, port, proto))

    too_open = sorted(actual - expected)
    too_closed = sorted(expected - actual)
    assert not too_open and not too_closed, (
        f"allowed but not in the matrix: {too_open}\nin the matrix but blocked: {too_closed}"
    )


def test_every_pod_is_under_default_deny(rendered: dict[str, Render]) -> None:
    for env, r in rendered.items():
        deny = r.get("NetworkPolicy", "default-deny-all")["spec"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny, env


def test_the_evaluator_is_not_vacuous(rendered: dict[str, Render]) -> None:
    """Without the default deny, a pod that another policy does not select is wide open."""
    r = rendered["dev"]
    namespace = "agent-system-dev"
    own = _own_peers(r, namespace)
    outside = _outside_peers()
    policies = [p for p in r.of_kind("NetworkPolicy") if p["metadata"]["name"] != "default-deny-all"]
    policies = [p for p in policies if p["metadata"]["name"] != "allow-metrics-scrape"]
    # postgres' own policy still restricts ingress...
    assert not connection_allowed(
        policies, outside["other-namespace"], own["postgres"], 5432, "TCP", namespace
    )
    # ...but with no policy selecting it at all, the worker accepts anything
    policies = [p for p in policies if p["metadata"]["name"] != "worker"]
    assert connection_allowed(policies, outside["internet"], own["worker"], 22, "TCP", namespace)
