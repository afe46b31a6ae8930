"""The observability component: a PodMonitor that has the Prometheus Operator scrape the
services, and the Grafana dashboard as a ConfigMap the Grafana sidecar loads, covering
requests, latency, queue lag, workers, tokens and cost, and asking only for metrics that
the services really export."""

from __future__ import annotations

import json
import re

from tests.manifests.support import REPO, Render

# what the dashboard must show, each by a metric it must query
TOPICS = {
    "requests": "http_requests_total",
    "latency": "http_request_duration_seconds_bucket",
    "queue lag": "task_queue_lag",
    "workers": "worker_steps_in_flight",
    "steps": "worker_steps_total",
    "tokens": "llm_tokens_total",
    "cost": "llm_cost_usd_total",
    "plans by source": "orchestrator_plans_total",
    "model-plan fallbacks by reason": "orchestrator_plan_fallbacks_total",
    "steps per task": "orchestrator_plan_steps_bucket",
    "tokens per task": "worker_task_llm_tokens_bucket",
    "each tool's errors": 'worker_steps_total{namespace=~"$namespace", outcome="failed"}',
}
PROMQL_BUILTINS = {"sum", "rate", "increase", "max", "count", "topk", "histogram_quantile", "by", "or", "le"}


def exported_metrics() -> set[str]:
    """Every metric name the services declare with prometheus_client (plus the histogram
    and counter series it derives)."""
    names = set()
    for path in (REPO / "services").rglob("*.py"):
        for kind, name in re.findall(r"\b(Counter|Gauge|Histogram)\(\s*\"([a-z_]+)\"", path.read_text()):
            names.add(name)
            if kind == "Histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def test_the_dashboard_is_a_configmap_for_the_grafana_sidecar(component_renders: dict[str, Render]) -> None:
    cm = component_renders["observability"].get("ConfigMap", "agent-system-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["agent-system.json"])
    assert dashboard["uid"] == "agent-system" and dashboard["panels"]
    for env in ("staging", "prod"):
        text = (REPO / "overlays" / env / "kustomization.yaml").read_text()
        assert "../../base/components/observability" in text, env


def test_the_dashboard_covers_every_topic_with_real_metrics() -> None:
    dashboard = json.loads((REPO / "base/components/observability/dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    text = "\n".join(exprs)
    for topic, metric in TOPICS.items():
        assert metric in text, f"no panel shows {topic} ({metric})"
    exported = exported_metrics()
    assert "task_queue_lag" in exported and "gateway_rate_limited_total" in exported
    for expr in exprs:
        for name in re.findall(r"\b([a-z_]+)\{", expr):
            assert name in exported or name in PROMQL_BUILTINS, f"{name} in {expr!r} is not exported"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_prometheus_operator_scrapes_what_the_network_policy_lets_it_reach(
    rendered: dict[str, Render],
) -> None:
    """kube-prometheus-stack ignores prometheus.io/* annotations: the PodMonitor is what makes
    it scrape. It must ask for exactly the ports base/policies opens to the namespace
    monitoring (where the EKS profile runs Prometheus), on exactly those pods."""
    for env in ("staging", "prod"):
        r = rendered[env]
        monitor = r.get("PodMonitor", "agent-system")
        scrape = r.get("NetworkPolicy", "allow-metrics-scrape")
        (rule,) = scrape["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
        endpoints = monitor["spec"]["podMetricsEndpoints"]
        assert {p["port"] for p in rule["ports"]} == {e["port"] for e in endpoints}
        assert monitor["spec"]["selector"] == scrape["spec"]["podSelector"]
        assert {e["path"] for e in endpoints} == {"/metrics"}
