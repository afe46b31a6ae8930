"""What every environment must hold, read from the rendered overlays: the design card's names,
ports and replica counts, workloads that are probed, limited and restricted, pinned images,
secrets only where they belong, a quota that fits, and KEDA that owns the prod worker."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.manifests.support import (
    DESIGN_REPLICAS,
    DESIGN_SERVICES,
    ENVS,
    REPO,
    SERVICES,
    Render,
    containers,
    pod_labels,
    pod_spec,
    quantity,
    secret_refs,
)

PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
LONG_RUNNING = ("Deployment", "StatefulSet", "Rollout")
TMP = "/tmp"  # noqa: S108 - the path the containers mount an emptyDir on


def workloads(
    r: Render, kinds: tuple[str, ...] = ("Deployment", "StatefulSet", "Job", "Rollout")
) -> list[dict]:
    return r.of_kind(*kinds)


def wname(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


# --- names, ports, replicas ------------------------------------------------------------


def test_namespace_and_pod_security(overlay: Render, env: str) -> None:
    ns = overlay.get("Namespace", f"agent-system-{env}")
    for key, value in PSS_LABELS.items():
        assert ns["metadata"]["labels"][key] == value
    for doc in overlay.docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == f"agent-system-{env}", wname(doc)


def test_replicas_match_design(overlay: Render, env: str) -> None:
    deployments = {
        d["metadata"]["name"]: d["spec"].get("replicas") for d in overlay.of_kind("Deployment", "Rollout")
    }
    got = {name: n for name, n in deployments.items() if name in SERVICES}
    assert got == DESIGN_REPLICAS[env]
    # beyond the design card's services, only the tracing component's collector (one replica)
    assert {name: n for name, n in deployments.items() if name not in SERVICES} in (
        {},
        {"otel-collector": None},
    )
    for name in ("redis", "postgres"):
        assert overlay.get("StatefulSet", name)["spec"]["replicas"] == 1


def test_replicas_are_one_line_each_in_the_overlay(env: str) -> None:
    """The number lives in the overlay's `replicas:` field, so changing it is a one-line diff."""
    doc = yaml.safe_load((REPO / "overlays" / env / "kustomization.yaml").read_text())
    assert {r["name"]: r["count"] for r in doc["replicas"]} == DESIGN_REPLICAS[env]
    for path in (REPO / "base").rglob("deployment.yaml"):
        assert "replicas" not in yaml.safe_load(path.read_text())["spec"], (
            f"{path}: replicas belong to overlays"
        )


def test_services_match_design(overlay: Render) -> None:
    services = {s["metadata"]["name"]: s for s in overlay.of_kind("Service")}
    expected = {svc for _, svc in DESIGN_SERVICES.values() if svc}
    if overlay.find("Deployment", "otel-collector"):  # the tracing component
        expected.add("otel-collector")
    assert set(services) == expected
    pods = {d["metadata"]["name"]: d for d in workloads(overlay, LONG_RUNNING)}
    for workload, (port, svc_name) in DESIGN_SERVICES.items():
        if svc_name is None:
            continue
        svc = services[svc_name]
        assert svc["spec"]["type"] == "ClusterIP"
        assert [p["port"] for p in svc["spec"]["ports"]] == [port], svc_name
        target = pods[workload]
        # the selector picks exactly this workload's pods
        for other_name, other in pods.items():
            selected = all(pod_labels(other).get(k) == v for k, v in svc["spec"]["selector"].items())
            assert selected == (other_name == workload), f"{svc_name} selects {other_name}"
        # the named target port exists on the container with the right number
        ports = {p["name"]: p["containerPort"] for c in containers(target) for p in c.get("ports", [])}
        assert ports[svc["spec"]["ports"][0]["targetPort"]] == port


def test_container_ports_and_settings_match_design(overlay: Render) -> None:
    configmaps = {c["metadata"]["name"]: c["data"] for c in overlay.of_kind("ConfigMap")}
    for name in SERVICES:
        deploy = overlay.workload(name)
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        port = DESIGN_SERVICES[name][0]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        env_names = {e["name"] for e in container.get("env", [])}
        config = {}
        for src in container.get("envFrom", []):
            config.update(configmaps[src["configMapRef"]["name"]])
        port_var = "METRICS_PORT" if name == "worker" else "PORT"
        assert config[port_var] == str(port)
        assert config["HOST"] == "0.0.0.0"
        if name != "frontend":
            assert {"DATABASE_URL", "REDIS_URL"} <= env_names
    urls = {k: v for data in configmaps.values() for k, v in data.items() if k.endswith("_URL")}
    assert urls == {
        "API_GATEWAY_URL": "http://api-gateway-service:8080",
        "CHAT_SERVICE_URL": "http://chat-service:3001",
        "ORCHESTRATOR_URL": "http://orchestrator-service:8000",
    }
    for doc in workloads(overlay):
        for c in containers(doc):
            for e in c.get("env", []):
                if e["name"] == "DATABASE_URL":
                    assert re.fullmatch(
                        r"postgresql://agent:\$\(POSTGRES_PASSWORD\)@postgres-service:5432/agent", e["value"]
                    )
                if e["name"] == "REDIS_URL":
                    assert re.fullmatch(r"redis://:\$\(REDIS_PASSWORD\)@redis-service:6379/0", e["value"])
            names = [e["name"] for e in c.get("env", [])]
            # $(VAR) only expands variables defined earlier in the list
            for i, e in enumerate(c.get("env", [])):
                for ref in re.findall(r"\$\((\w+)\)", e.get("value", "")):
                    assert ref in names[:i], f"{wname(doc)}: {e['name']} uses $({ref}) before it is defined"


def test_configmap_and_secret_references_resolve(overlay: Render, env: str) -> None:
    configmaps = {c["metadata"]["name"] for c in overlay.of_kind("ConfigMap")}
    secrets = {s["metadata"]["name"] for s in overlay.of_kind("Secret")}
    external = {e["spec"]["target"]["name"] for e in overlay.of_kind("ExternalSecret")}
    for doc in workloads(overlay):
        for c in containers(doc):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps, wname(doc)
        for vol in pod_spec(doc).get("volumes", []):
            if "configMap" in vol:
                assert vol["configMap"]["name"] in configmaps, wname(doc)
        for name, optional in secret_refs(doc):
            if not optional:
                assert name in secrets | external, (
                    f"{wname(doc)} needs Secret {name}, which {env} does not provide"
                )


# --- workload hardening ------------------------------------------------------------------


def test_every_workload_is_probed(overlay: Render) -> None:
    for doc in workloads(overlay, LONG_RUNNING):
        for c in containers(doc):
            assert "livenessProbe" in c and "readinessProbe" in c, f"{wname(doc)}/{c['name']}"
            if doc["metadata"]["name"] in SERVICES:
                assert c["livenessProbe"]["httpGet"]["path"] == "/health"
                assert c["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_every_container_has_requests_and_limits(overlay: Render) -> None:
    for doc in workloads(overlay):
        for c in containers(doc):
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{wname(doc)}/{c['name']}: {kind}"
            for r in ("cpu", "memory"):
                assert quantity(res["requests"][r]) <= quantity(res["limits"][r]), f"{wname(doc)} {r}"


ALLOWED_VOLUMES = {
    "configMap",
    "emptyDir",
    "projected",
    "secret",
    "downwardAPI",
    "persistentVolumeClaim",
    "ephemeral",
    "csi",
}


def test_every_pod_meets_pod_security_restricted(overlay: Render) -> None:
    """The rules of the Pod Security Standard "restricted" (v1.32), as the admission
    controller checks them, plus our own: no API token, a read-only root with /tmp writable."""
    for doc in workloads(overlay):
        spec = pod_spec(doc)
        psc = spec.get("securityContext", {})
        where = wname(doc)
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        assert spec.get("automountServiceAccountToken") is False, where
        sa = overlay.get("ServiceAccount", spec["serviceAccountName"])
        assert sa.get("automountServiceAccountToken") is False, where
        for vol in spec.get("volumes", []):
            assert set(vol) - {"name"} <= ALLOWED_VOLUMES, f"{where}: volume {vol}"
        for c in containers(doc):
            csc = c.get("securityContext", {})
            here = f"{where}/{c['name']}"
            assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, here
            assert csc.get("runAsUser", psc.get("runAsUser", 1)) >= 10000, f"{here}: a high UID"
            assert csc.get("allowPrivilegeEscalation") is False, here
            assert csc.get("privileged", False) is False, here
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], here
            assert set(csc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, here
            seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            assert seccomp in ("RuntimeDefault", "Localhost"), here
            assert csc.get("readOnlyRootFilesystem") is True, here
            assert not c.get("ports") or all("hostPort" not in p for p in c["ports"]), here
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert TMP in mounts, f"{here}: /tmp must be writable"
            tmp = next(v for v in spec["volumes"] if v["name"] == mounts[TMP])
            assert "emptyDir" in tmp and tmp["emptyDir"].get("sizeLimit"), (
                f"{here}: /tmp is a bounded emptyDir"
            )


def test_images_are_pinned(overlay: Render, env: str) -> None:
    kustomization = yaml.safe_load((REPO / "overlays" / env / "kustomization.yaml").read_text())
    owners = {re.match(r"ghcr\.io/([^/]+)/", i["newName"]).group(1) for i in kustomization["images"]}
    assert len(owners) == 1, f"one OWNER per overlay, found {owners}"
    (owner,) = owners
    for doc in workloads(overlay):
        for c in containers(doc):
            image = c["image"]
            assert not image.endswith(":latest") and ":latest@" not in image, image
            name, _, tag = image.split("@")[0].rpartition(":")
            assert name and tag, f"{wname(doc)}: {image} has no tag"
            if doc["metadata"]["name"] in SERVICES or doc["metadata"]["name"] == "migrate":
                service = "orchestrator" if doc["metadata"]["name"] == "migrate" else doc["metadata"]["name"]
                assert name == f"ghcr.io/{owner}/agent-system-{service}", image
            else:
                # third-party images: an exact upstream version, not a moving major tag
                assert re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z]+)?", tag), image


def test_no_secret_data_in_prod(rendered: dict[str, Render]) -> None:
    prod = rendered["prod"]
    assert not prod.of_kind("Secret"), "prod takes every secret from the external store"
    targets = {e["spec"]["target"]["name"] for e in prod.of_kind("ExternalSecret")}
    assert targets == {"postgres-credentials", "redis-credentials", "llm-credentials"}
    for ext in prod.of_kind("ExternalSecret"):
        assert ext["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "agent-system"}
    text = (REPO / "overlays" / "prod" / "kustomization.yaml").read_text()
    assert "secretGenerator" not in text and "password" not in text.lower()


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_dev_and_staging_generate_their_secrets(rendered: dict[str, Render], env: str) -> None:
    secrets = {s["metadata"]["name"] for s in rendered[env].of_kind("Secret")}
    assert {n.rsplit("-", 1)[0] for n in secrets} == {"postgres-credentials", "redis-credentials"}
    assert not rendered[env].of_kind("ExternalSecret")


def test_postgres_and_redis(overlay: Render) -> None:
    pg = overlay.get("StatefulSet", "postgres")
    (claim,) = pg["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    (c,) = pg["spec"]["template"]["spec"]["containers"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["exec"]["command"][0] == "pg_isready"
    pw = next(e for e in c["env"] if e["name"] == "POSTGRES_PASSWORD")
    assert pw["valueFrom"]["secretKeyRef"]["name"].startswith("postgres-credentials")

    redis = overlay.get("StatefulSet", "redis")
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    conf_map = overlay.get("ConfigMap", "redis-config")
    conf = dict(
        line.split(None, 1)
        for line in conf_map["data"]["redis.conf"].splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("save")
    )
    assert conf["appendonly"] == "yes"
    assert conf["dir"] == "/data"
    assert conf["maxmemory-policy"] == "noeviction"
    (c,) = redis["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "/usr/local/etc/redis/redis.conf"
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/data", "/usr/local/etc/redis"}


def test_migration_runs_between_the_data_stores_and_the_services(overlay: Render) -> None:
    job = overlay.get("Job", "migrate")
    ann = job["metadata"]["annotations"]
    assert ann["argocd.argoproj.io/hook"] == "Sync"
    assert ann["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["agent-migrate"]
    assert "/agent-system-orchestrator:" in c["image"]

    def wave(doc: dict[str, Any]) -> int:
        return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))

    stores = [overlay.get("StatefulSet", n) for n in ("postgres", "redis")]
    apps = overlay.of_kind("Deployment", "Rollout")
    assert max(map(wave, stores)) < wave(job) < min(map(wave, apps))
    # everything the stores need (config, secrets, policies) is in an earlier wave still
    for doc in overlay.docs:
        if doc["kind"] in (
            "ConfigMap",
            "Secret",
            "ExternalSecret",
            "ServiceAccount",
            "NetworkPolicy",
            "Service",
            "ResourceQuota",
            "LimitRange",
        ):
            assert wave(doc) < min(map(wave, stores)), wname(doc)
    for so in overlay.of_kind("ScaledObject"):
        assert wave(so) > wave(overlay.get("Deployment", "worker"))


# --- capacity -----------------------------------------------------------------------------


def _max_replicas(overlay: Render, doc: dict[str, Any]) -> int:
    if doc["kind"] == "Job":
        return 1
    for so in overlay.of_kind("ScaledObject"):
        if so["spec"]["scaleTargetRef"]["name"] == doc["metadata"]["name"]:
            return max(so["spec"]["maxReplicaCount"], doc["spec"].get("replicas", 1))
    return doc["spec"].get("replicas", 1)


def test_quota_holds_every_workload_at_its_peak(
    overlay: Render, artifacts: dict[str, object], env: str
) -> None:
    """All Deployments at their largest size plus one surge pod each (a rollout), both
    StatefulSets and the migration Job must fit in the ResourceQuota."""
    (quota,) = overlay.of_kind("ResourceQuota")
    hard = quota["spec"]["hard"]
    need = {"pods": 0.0, "requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0, "limits.memory": 0.0}
    for doc in workloads(overlay):
        pods = _max_replicas(overlay, doc)
        if doc["kind"] in ("Deployment", "Rollout"):
            pods += 1  # maxSurge 1
        need["pods"] += pods
        for c in containers(doc):
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    need[f"{kind}.{res}"] += pods * quantity(c["resources"][kind][res])
    storage = sum(
        quantity(t["spec"]["resources"]["requests"]["storage"])
        for s in overlay.of_kind("StatefulSet")
        for t in s["spec"].get("volumeClaimTemplates", [])
    )
    need["requests.storage"] = storage
    short = {k: (v, hard[k]) for k, v in need.items() if v > quantity(hard[k])}
    assert not short, f"{env}: quota too small (need, have): {short}"
    artifacts.setdefault("quota_use", {})[env] = {  # type: ignore[union-attr]
        k: f"{v / quantity(hard[k]):.0%}" for k, v in need.items()
    }


def test_limitrange_admits_every_container(overlay: Render) -> None:
    (lr,) = overlay.of_kind("LimitRange")
    cmax = next(item["max"] for item in lr["spec"]["limits"] if item["type"] == "Container")
    for doc in workloads(overlay):
        for c in containers(doc):
            for res in ("cpu", "memory"):
                assert quantity(c["resources"]["limits"][res]) <= quantity(cmax[res]), wname(doc)


def test_disruption_budgets(overlay: Render, env: str) -> None:
    pdbs = {p["metadata"]["name"]: p for p in overlay.of_kind("PodDisruptionBudget")}
    assert set(pdbs) == set(SERVICES)
    for name, pdb in pdbs.items():
        replicas = overlay.workload(name)["spec"]["replicas"]
        spec = pdb["spec"]
        assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        if "minAvailable" in spec:
            # never blocks a drain: fewer required than running
            assert spec["minAvailable"] < replicas, f"{env} {name}"
        else:
            assert spec["maxUnavailable"] >= 1
    if env == "prod":
        assert all(p["spec"].get("minAvailable") == 1 for p in pdbs.values())


# --- KEDA -----------------------------------------------------------------------------------


def test_keda_owns_the_prod_worker(rendered: dict[str, Render]) -> None:
    prod = rendered["prod"]
    so = prod.get("ScaledObject", "worker")
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == "worker"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 10)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis-streams"
    meta = trigger["metadata"]
    # KEDA 2.20's mode: XLEN without a consumerGroup (with one it counts pending entries or
    # the lag); tests/integration/test_keda_trigger.py shows why on a real Redis 7
    assert meta["stream"] == "task_queue" and "consumerGroup" not in meta and "lagCount" not in meta
    # a worker holds WORKER_CONCURRENCY steps of the stream itself: the target per worker is
    # above that, or a fully busy but keeping-up worker pool would keep scaling out
    concurrency = int(prod.get("ConfigMap", "worker-config")["data"]["WORKER_CONCURRENCY"])
    assert int(meta["streamLength"]) > concurrency
    assert meta["address"] == "redis-service.agent-system-prod.svc.cluster.local:6379"
    auth = prod.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "redis-credentials", "key": "REDIS_PASSWORD"}
    ]
    for env in ("dev", "staging"):
        assert not rendered[env].of_kind("ScaledObject")


def test_keda_trigger_secret_follows_a_generated_secret(component_renders: dict[str, Render]) -> None:
    """With secretGenerator (hash-suffixed names) the TriggerAuthentication still points at the
    Secret: the keda component teaches kustomize that reference."""
    config = yaml.safe_load((REPO / "base/components/keda/kustomizeconfig.yaml").read_text())
    spec = config["nameReference"][0]["fieldSpecs"][0]
    assert (spec["kind"], spec["path"]) == ("TriggerAuthentication", "spec/secretTargetRef/name")


# --- components ------------------------------------------------------------------------------


def test_routes_send_api_to_the_gateway_and_the_rest_to_the_frontend(
    component_renders: dict[str, Render],
) -> None:
    route = component_renders["httproute"].get("HTTPRoute", "agent-system")
    assert route["spec"]["hostnames"] == ["agent.local"]
    rules = {r["matches"][0]["path"]["value"]: r["backendRefs"][0] for r in route["spec"]["rules"]}
    assert rules == {
        "/api": {"name": "api-gateway-service", "port": 8080},
        "/": {"name": "frontend-service", "port": 3000},
    }
    gateway = component_renders["httproute"].get("Gateway", route["spec"]["parentRefs"][0]["name"])
    assert gateway["spec"]["listeners"][0]["hostname"] == "agent.local"

    api_rule = next(r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == "/api")
    assert api_rule["timeouts"]["request"] == "150s", "chat answers stream for up to 120 s"


def test_every_environment_routes_through_the_gateway_api_in_the_last_wave(
    rendered: dict[str, Render],
) -> None:
    """One routing path everywhere, and since a Gateway's health is its controller's word,
    its wave is the last: nothing waits on it."""
    for env, r in rendered.items():
        assert not r.of_kind("Ingress"), env
        edge = r.of_kind("Gateway") + r.of_kind("HTTPRoute")
        assert len(edge) == 2, env
        waves = [
            int(d["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))
            for d in r.docs
            if d["kind"] != "Job"
        ]
        for doc in edge:
            assert int(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) == max(waves), env


def test_edge_components_tell_the_gateway_about_the_proxy(
    component_renders: dict[str, Render], rendered: dict[str, Render]
) -> None:
    """Behind the Gateway's proxy the client address is in X-Forwarded-For: one hop."""
    config = component_renders["httproute"].get("ConfigMap", "gateway-config")
    assert config["data"]["TRUSTED_PROXY_HOPS"] == "1"
    for env, r in rendered.items():
        assert r.get("ConfigMap", "gateway-config")["data"]["TRUSTED_PROXY_HOPS"] == "1", env
    assert "TRUSTED_PROXY_HOPS" not in component_renders["keda"].get("ConfigMap", "gateway-config")["data"]


def test_the_session_cookie_is_secure_in_prod_and_follows_the_proxy_elsewhere(
    rendered: dict[str, Render],
) -> None:
    """prod always marks the cookie Secure; dev and staging trust the Gateway's proxy to say
    whether the request came over https (the default, auto)."""
    secure = {
        env: r.get("ConfigMap", "gateway-config")["data"].get("SESSION_COOKIE_SECURE", "auto")
        for env, r in rendered.items()
    }
    assert secure == {"dev": "auto", "staging": "auto", "prod": "always"}


def test_rollouts_component_makes_an_analysed_canary_orchestrator(
    component_renders: dict[str, Render],
) -> None:
    """The canary step names whole pods, an analysis of the canary's error rate gates the rest,
    and the analysis has every argument its template asks for."""
    r = component_renders["rollouts"]
    assert r.find("Deployment", "orchestrator") is None
    rollout = r.get("Rollout", "orchestrator")
    assert rollout["spec"]["template"]["spec"]["containers"][0]["name"] == "orchestrator"
    canary = rollout["spec"]["strategy"]["canary"]
    assert "trafficRouting" not in canary, "the split is by pods: setWeight must name whole pods"
    steps = canary["steps"]
    assert [next(iter(s)) for s in steps] == ["setWeight", "analysis", "setWeight"]
    assert steps[0]["setWeight"] == 50 and steps[-1]["setWeight"] == 100
    analysis = steps[1]["analysis"]
    (ref,) = analysis["templates"]
    template = r.get("AnalysisTemplate", ref["templateName"])
    given = {a["name"]: a for a in analysis["args"]}
    assert set(given) == {a["name"] for a in template["spec"]["args"]}
    assert given["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
    assert given["namespace"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert given["service"]["value"] == "orchestrator"
    (metric,) = template["spec"]["metrics"]
    query = metric["provider"]["prometheus"]["query"]
    assert "http_requests_total" in query and 'status=~"5.."' in query
    assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
    assert metric["failureLimit"] >= 1 and metric["count"] > metric["failureLimit"]


def test_prod_uses_the_canary_with_the_series_it_reads(rendered: dict[str, Render]) -> None:
    """prod's orchestrator is the Rollout; setWeight 50 of its replicas is a whole pod; the
    PodMonitor puts the label the analysis filters on onto the series."""
    prod = rendered["prod"]
    rollout = prod.get("Rollout", "orchestrator")
    replicas = rollout["spec"]["replicas"]
    for step in rollout["spec"]["strategy"]["canary"]["steps"]:
        if "setWeight" in step:
            assert step["setWeight"] * replicas % 100 == 0, (step, replicas)
    assert prod.find("AnalysisTemplate", "error-rate")
    monitor = prod.get("PodMonitor", "agent-system")
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]
    for env in ("dev", "staging"):
        assert not rendered[env].of_kind("Rollout")


def test_vpa_follows_the_rollout(component_renders: dict[str, Render]) -> None:
    """With both components, the orchestrator's VPA targets the Rollout (the Deployment is
    gone); alone, the vpa component targets the Deployments."""
    together = component_renders["all"]
    vpa = together.get("VerticalPodAutoscaler", "orchestrator")
    assert vpa["spec"]["targetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "orchestrator",
    }
    for v in together.of_kind("VerticalPodAutoscaler"):
        target = v["spec"]["targetRef"]
        assert together.find(target["kind"], target["name"]), target
    alone = component_renders["vpa"].get("VerticalPodAutoscaler", "orchestrator")
    assert alone["spec"]["targetRef"]["kind"] == "Deployment"


def test_rollout_keeps_overlay_replicas_and_images() -> None:
    """The rollouts component's kustomizeconfig keeps `replicas:` working on the Rollout."""
    config = yaml.safe_load((REPO / "base/components/rollouts/kustomizeconfig.yaml").read_text())
    assert config["replicas"][0]["kind"] == "Rollout"


def test_tracing_component_configures_otlp(component_renders: dict[str, Render]) -> None:
    r = component_renders["tracing"]
    for name in SERVICES:
        data = r.get("ConfigMap", f"{name}-config")["data"]
        assert data["OTEL_SERVICE_NAME"] == name
        assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert data["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


def test_tracing_component_runs_a_collector(component_renders: dict[str, Render]) -> None:
    """OTLP in on 4317/4318, batches out to the debug log and the backend over OTLP."""
    r = component_renders["tracing"]
    service = r.get("Service", "otel-collector")
    ports = {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}
    assert ports == {4317: "otlp-grpc", 4318: "otlp-http"}
    (c,) = r.get("Deployment", "otel-collector")["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert c["args"] == ["--config=/etc/otelcol/config.yaml"]
    assert c["readinessProbe"]["httpGet"]["port"] == "health"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"otlp-grpc": 4317, "otlp-http": 4318, "health": 13133}
    config = yaml.safe_load(r.get("ConfigMap", "otel-collector-config")["data"]["config.yaml"])
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    (pipeline,) = config["service"]["pipelines"].values()
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["debug", "otlp_grpc"]
    assert "batch" in pipeline["processors"]
    assert config["extensions"]["health_check"]["endpoint"].endswith(":13133")


def test_every_service_is_annotated_for_prometheus(overlay: Render) -> None:
    for name in SERVICES:
        template = overlay.workload(name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        port = DESIGN_SERVICES[name][0]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }, name


def test_sandbox_component_runs_the_worker_under_gvisor(component_renders: dict[str, Render]) -> None:
    r = component_renders["sandbox"]
    assert r.get("Deployment", "worker")["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"
    for name in SERVICES:
        if name != "worker":
            assert "runtimeClassName" not in r.get("Deployment", name)["spec"]["template"]["spec"]


def test_labels(overlay: Render, env: str) -> None:
    for doc in overlay.docs:
        labels = doc["metadata"].get("labels", {})
        if doc["kind"] == "Namespace":
            continue
        assert labels.get("app.kubernetes.io/part-of") == "agent-system", wname(doc)
        assert labels.get("app.kubernetes.io/instance") == f"agent-system-{env}", wname(doc)
        if doc["kind"] not in ("NetworkPolicy", "ResourceQuota", "LimitRange", "Secret"):
            assert "app.kubernetes.io/name" in labels, wname(doc)
    for doc in workloads(overlay):
        assert pod_labels(doc)["app.kubernetes.io/name"] == doc["metadata"]["name"]
        assert pod_labels(doc)["app.kubernetes.io/part-of"] == "agent-system"
        if doc["kind"] != "Job":
            assert doc["spec"]["selector"]["matchLabels"] == {
                "app.kubernetes.io/name": doc["metadata"]["name"]
            }


def test_envs_differ_in_size(rendered: dict[str, Render]) -> None:
    def worker_memory(env: str) -> float:
        (c,) = rendered[env].get("Deployment", "worker")["spec"]["template"]["spec"]["containers"]
        return quantity(c["resources"]["limits"]["memory"])

    assert worker_memory("dev") < worker_memory("staging") < worker_memory("prod")
    assert set(ENVS) == set(rendered)
