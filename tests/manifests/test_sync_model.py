"""The Argo CD sync model (tests/manifests/syncmodel, see tests/README.md "Sync model").

First half: the repository. Each profile (laptop = kind, eks) is bootstrapped on a simulated
cluster the way the README says (Argo CD from argocd/install, then the profile's root
Application); Argo CD v3.5.1's sync engine runs every Application wave by wave and its own
health rules judge the status the profile's controllers would write. Every object in a
waited-on wave must turn Healthy, every custom resource's kind must be served when its wave
runs, every Application the profile brings up must end Synced and Healthy, and the model
must be able to tell all of it (anything it cannot tell fails).

Second half: the model itself, on small hand-written manifests, so that a wrong model
cannot pass: wave gating, the last wave, hook phases and delete policies, kind order,
missing CRDs and SkipDryRunOnMissingResource, the Application health customization, and
the controllers' rules (Gateway addresses, secret stores, storage, images).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.support import ENVS, REPO
from tests.manifests.syncmodel.bootstrap import Run, argocd_cm, bootstrap
from tests.manifests.syncmodel.cluster import Cluster
from tests.manifests.syncmodel.health import HealthRules, parse_overrides
from tests.manifests.syncmodel.judge import judge
from tests.manifests.syncmodel.lua import run_health_script
from tests.manifests.syncmodel.objects import Obj
from tests.manifests.syncmodel.profiles import EKS, LAPTOP, PROFILES, Profile
from tests.manifests.syncmodel.reference import LOCAL
from tests.manifests.syncmodel.report import Finding, findings, format_findings, summary
from tests.manifests.syncmodel.waves import SyncOperation, SyncSettings, Task, sort_tasks

# ---------------------------------------------------------------------------------------
# The repository, per profile


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[Run, list[Finding]]]:
    out = {}
    for name, profile in PROFILES.items():
        run = bootstrap(profile)
        out[name] = (run, findings(run))
    return out


def _assert_none(runs: dict[str, tuple[Run, list[Finding]]], profile: str, *categories: str) -> None:
    run, found = runs[profile]
    selected = [f for f in found if f.category in categories]
    assert not selected, "\n" + format_findings(run, selected) + "\n\nwhat happened:\n" + summary(run)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_waited_on_wave_turns_healthy(runs: dict[str, Any], profile: str) -> None:
    """An object that never turns Healthy in a wave that later waves wait on stops the sync
    there (sync_context.go): the rest of the environment is never applied."""
    _assert_none(runs, profile, "wave")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_custom_resource_kind_is_installed_before_its_wave(runs: dict[str, Any], profile: str) -> None:
    """A custom resource needs its CRD from something synced earlier (an add-on in an
    earlier wave of the root Application) or from Argo CD's own install."""
    _assert_none(runs, profile, "crd")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_application_of_the_profile_ends_synced_and_healthy(runs: dict[str, Any], profile: str) -> None:
    _assert_none(runs, profile, "end", "sync")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_model_can_tell_everything_it_is_asked(runs: dict[str, Any], profile: str) -> None:
    """Unknown sources, statuses the model does not simulate and syncs that only succeed on a
    retry (timing) fail rather than pass by guesswork."""
    _assert_none(runs, profile, "unknown", "timing")


@pytest.mark.parametrize("env", ENVS)
def test_each_overlay_is_brought_up_by_some_profile(runs: dict[str, Any], env: str) -> None:
    """Every overlay is some profile's environment, and ends Synced and Healthy there."""
    where = []
    for profile, (run, found) in runs.items():
        for app in run.argocd.apps.values():
            if app.source.get("path") == f"overlays/{env}" and run.repo.is_ours(
                app.source.get("repoURL", "")
            ):
                where.append(profile)
                mine = [f for f in found if f.app == app.name]
                assert not mine, "\n" + format_findings(run, mine)
                assert (app.sync_status, app.health.status) == ("Synced", "Healthy")
    assert where, f"overlays/{env} is an environment of no profile ({sorted(runs)})"


def test_the_laptop_profile_installs_argo_cd_health_for_applications() -> None:
    """Without argocd-cm's argoproj.io/Application health, the root Application would not wait
    for its add-ons (Application has no built-in health in Argo CD 3)."""
    data, _ = argocd_cm(REPO)
    rules = HealthRules(parse_overrides(data, "argocd-cm"))
    assert rules.has_health("argoproj.io", "Application")
    assert not HealthRules({}).has_health("argoproj.io", "Application")


# ---------------------------------------------------------------------------------------
# The model on hand-written manifests

URL = "https://example.test/repo.git"
ARGOCD_CM, _ = argocd_cm(REPO)


def obj(kind: str, name: str, api: str = "v1", wave: int | None = None, **fields: Any) -> Obj:
    meta: dict[str, Any] = {"name": name}
    annotations = fields.pop("annotations", {})
    if wave is not None:
        annotations["argocd.argoproj.io/sync-wave"] = str(wave)
    if annotations:
        meta["annotations"] = annotations
    if "namespace" in fields:
        meta["namespace"] = fields.pop("namespace")
    return {"apiVersion": api, "kind": kind, "metadata": meta, **fields}


def app(name: str, path: str, wave: int | None = None, namespace: str = "demo", **policy: Any) -> Obj:
    options = policy.pop("options", ["CreateNamespace=true"])
    return obj(
        "Application",
        name,
        "argoproj.io/v1alpha1",
        wave,
        namespace="argocd",
        spec={
            "project": "default",
            "source": {"repoURL": URL, "path": path, "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"enabled": True, "prune": True}, "syncOptions": options, **policy},
        },
    )


def bootstrap_files(
    tmp_path: Path,
    files: dict[str, list[Obj]],
    roots: list[Obj],
    profile: Profile = LAPTOP,
    cm: dict[str, str] | None = None,
) -> Run:
    for rel, docs in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(docs))
    return bootstrap(profile, tmp_path, ARGOCD_CM if cm is None else cm, roots=json.loads(json.dumps(roots)))


def ingress(wave: int | None = None) -> Obj:
    return obj(
        "Ingress",
        "web",
        "networking.k8s.io/v1",
        wave,
        spec={
            "ingressClassName": "nginx",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    )


def config(name: str, wave: int | None = None, **fields: Any) -> Obj:
    return obj("ConfigMap", name, wave=wave, data={"k": "v"}, **fields)


def test_a_progressing_ingress_blocks_the_next_wave(tmp_path: Path) -> None:
    run = bootstrap_files(tmp_path, {"env/all.yaml": [ingress(0), config("later", 1)]}, [app("demo", "env")])
    state = run.argocd.apps["demo"]
    assert state.operation.phase == "Running"
    assert state.operation.message == "waiting for healthy state of networking.k8s.io/Ingress/web"
    assert run.cluster.lookup("", "ConfigMap", "demo", "later") is None, "wave 1 must never be applied"
    (wave,) = [f for f in findings(run) if f.category == "wave"]
    assert (
        "networking.k8s.io/Ingress demo/web never completes: Progressing [Go health_ingress.go" in wave.text
    )
    assert 'no Ingress controller for class "nginx"' in wave.text


def test_the_last_wave_is_not_waited_on_but_still_counts_for_health(tmp_path: Path) -> None:
    run = bootstrap_files(tmp_path, {"env/all.yaml": [config("first", 0), ingress(1)]}, [app("demo", "env")])
    state = run.argocd.apps["demo"]
    assert state.operation.phase == "Succeeded"
    assert state.operation.message == "successfully synced (all tasks run)"
    assert (state.sync_status, state.health.status) == ("Synced", "Progressing")
    assert [f.category for f in findings(run)] == ["end"]


def test_hooks_run_by_phase_before_wave_order(tmp_path: Path) -> None:
    def hook(name: str, phase: str, wave: int) -> Obj:
        return obj(
            "Job",
            name,
            "batch/v1",
            wave,
            annotations={"argocd.argoproj.io/hook": phase},
            spec={
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.37"}]}
                }
            },
        )

    docs = [
        hook("post", "PostSync", -5),
        config("resource", -1),
        hook("pre", "PreSync", 5),
        hook("during", "Sync", 0),
    ]
    run = bootstrap_files(tmp_path, {"env/all.yaml": docs}, [app("demo", "env")])
    op = run.argocd.apps["demo"].operation
    assert op.phase == "Succeeded"
    order = [(a.phase, a.wave, [k.split()[-1] for k in a.keys]) for a in op.applied]
    assert order[0] == ("PreSync", 0, ["demo"]), "CreateNamespace=true: the namespace comes first"
    assert order[1:] == [
        ("PreSync", 5, ["demo/pre"]),
        ("Sync", -1, ["demo/resource"]),
        ("Sync", 0, ["demo/during"]),
        ("PostSync", -5, ["demo/post"]),
    ]


def test_kinds_are_ordered_within_a_wave_and_crds_move_before_their_resources() -> None:
    def task(kind: str, api: str = "v1", wave: int = 0, **fields: Any) -> Task:
        return Task("Sync", obj(kind, kind.lower(), api, wave, namespace="demo", **fields), None)

    crd = task(
        "CustomResourceDefinition",
        "apiextensions.k8s.io/v1",
        wave=3,
        spec={"group": "example.test", "names": {"kind": "Widget"}},
    )
    tasks = [
        task("Ingress", "networking.k8s.io/v1"),
        task("Widget", "example.test/v1"),
        task("Deployment", "apps/v1"),
        task("Service"),
        crd,
        task("ConfigMap"),
        task("Namespace"),
        task("PodDisruptionBudget", "policy/v1"),
    ]
    sort_tasks(tasks)
    assert [t.kind for t in tasks] == [
        "Namespace",
        "PodDisruptionBudget",
        "ConfigMap",
        "Service",
        "Deployment",
        "Ingress",
        "CustomResourceDefinition",
        "Widget",
    ]
    assert crd.wave() == 0, "a CRD joins the wave of its first custom resource (adjustDeps)"


def _hook_job(command: str, policy: str | None) -> Obj:
    annotations = {"argocd.argoproj.io/hook": "Sync"}
    if policy:
        annotations["argocd.argoproj.io/hook-delete-policy"] = policy
    return obj(
        "Job",
        "migrate",
        "batch/v1",
        annotations=annotations,
        namespace="demo",
        spec={
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox:1.37", "command": [command]}],
                }
            }
        },
    )


def _sync(cluster: Cluster, targets: list[Obj]) -> SyncOperation:
    rules = HealthRules({})
    op = SyncOperation(
        "demo",
        "demo",
        targets,
        cluster,
        SyncSettings(("CreateNamespace=true",)),
        health=lambda o: judge(cluster, rules, o).health,
    )
    for _ in range(20):
        op.step()
    return op


@pytest.mark.parametrize("policy", [None, "BeforeHookCreation"])
def test_a_job_hook_with_before_hook_creation_is_replaced_on_the_next_sync(policy: str | None) -> None:
    cluster = Cluster.fresh(LAPTOP)
    first = _sync(cluster, [_hook_job("v1", policy)])
    assert first.phase == "Succeeded" and cluster.lookup("batch", "Job", "demo", "migrate") is not None
    second = _sync(cluster, [_hook_job("v2", policy)])
    assert second.phase == "Succeeded", second.message
    assert second.deleted == ["batch/Job demo/migrate"]
    live = cluster.lookup("batch", "Job", "demo", "migrate")
    assert live["spec"]["template"]["spec"]["containers"][0]["command"] == ["v2"]


def test_a_kept_job_hook_cannot_be_changed_by_the_next_sync() -> None:
    """HookFailed alone keeps a succeeded Job; its pod template is immutable."""
    cluster = Cluster.fresh(LAPTOP)
    assert _sync(cluster, [_hook_job("v1", "HookFailed")]).phase == "Succeeded"
    second = _sync(cluster, [_hook_job("v2", "HookFailed")])
    assert second.phase == "Failed"
    assert "spec.template: Invalid value: field is immutable" in second.message


def test_hook_succeeded_deletes_the_hook_when_the_sync_succeeds() -> None:
    cluster = Cluster.fresh(LAPTOP)
    op = _sync(cluster, [_hook_job("v1", "HookSucceeded"), config("c", 1, namespace="demo")])
    assert op.phase == "Succeeded" and op.deleted == ["batch/Job demo/migrate"]
    assert cluster.lookup("batch", "Job", "demo", "migrate") is None


@pytest.mark.parametrize("customized", [True, False])
def test_the_application_health_customization_makes_app_of_apps_waves_wait(
    tmp_path: Path, customized: bool
) -> None:
    files = {
        "child/all.yaml": [ingress()],
        "root/apps.yaml": [app("child", "child", wave=0), config("after-child", 1, namespace="argocd")],
    }
    root = app("root", "root", namespace="argocd", options=[])
    run = bootstrap_files(tmp_path, files, [root], cm=None if customized else {})
    applied_after = run.cluster.lookup("", "ConfigMap", "argocd", "after-child") is not None
    assert run.argocd.apps["child"].health.status == "Progressing"
    if customized:
        assert not applied_after, "the root must wait for its child Application to be Healthy"
        assert (
            run.argocd.apps["root"].operation.message
            == "waiting for healthy state of argoproj.io/Application/child"
        )
    else:
        assert applied_after, "without a health check an Application counts as done at once"
        assert run.argocd.apps["root"].operation.phase == "Succeeded"


def _scaled(wave: int, **annotations: str) -> Obj:
    return obj(
        "TriggerAuthentication",
        "auth",
        "keda.sh/v1alpha1",
        wave,
        annotations=dict(annotations),
        spec={"secretTargetRef": []},
    )


def test_a_missing_crd_fails_the_whole_sync_before_anything_is_applied(tmp_path: Path) -> None:
    run = bootstrap_files(tmp_path, {"env/all.yaml": [config("first", -1), _scaled(0)]}, [app("demo", "env")])
    op = run.argocd.apps["demo"].operation
    assert op.phase == "Failed"
    assert op.message == (
        "one or more synchronization tasks are not valid: failed to discover server resources "
        "for group version keda.sh/v1alpha1: the server could not find the requested resource"
    )
    assert run.cluster.lookup("", "ConfigMap", "demo", "first") is None
    assert [f.category for f in findings(run)][:1] == ["crd"]


def test_skip_dry_run_lets_an_earlier_wave_install_the_crd(tmp_path: Path) -> None:
    """The root installs KEDA in wave -1 and uses its kind in wave 0: at the start of the sync
    the kind is unknown, which fails the sync unless SkipDryRunOnMissingResource is set."""
    keda = obj(
        "Application",
        "keda",
        "argoproj.io/v1alpha1",
        -1,
        namespace="argocd",
        spec={
            "project": "default",
            "source": {
                "repoURL": "https://kedacore.github.io/charts",
                "chart": "keda",
                "targetRevision": "2.20.2",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "keda"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
        },
    )
    plain = bootstrap_files(
        tmp_path / "a",
        {"root/all.yaml": [keda, _scaled(0, namespace="argocd")]},
        [app("root", "root", namespace="argocd", options=[])],
    )
    assert plain.argocd.apps["root"].operation.phase == "Failed"
    assert "keda" not in plain.argocd.apps, "nothing was applied: the add-on never comes"
    skipping = bootstrap_files(
        tmp_path / "b",
        {
            "root/all.yaml": [
                keda,
                _scaled(0, **{"argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true"}),
            ]
        },
        [app("root", "root", namespace="argocd", options=[])],
    )
    assert skipping.argocd.apps["root"].operation.phase == "Succeeded"
    assert skipping.cluster.lookup("keda.sh", "TriggerAuthentication", "argocd", "auth") is not None


def test_a_crd_in_the_same_sync_skips_the_dry_run_by_itself(tmp_path: Path) -> None:
    crd = obj(
        "CustomResourceDefinition",
        "widgets.example.test",
        "apiextensions.k8s.io/v1",
        5,
        spec={
            "group": "example.test",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    )
    widget = obj("Widget", "w", "example.test/v1", 0)
    run = bootstrap_files(tmp_path, {"env/all.yaml": [crd, widget]}, [app("demo", "env")])
    assert run.argocd.apps["demo"].operation.phase == "Succeeded"
    assert run.cluster.lookup("example.test", "Widget", "demo", "w") is not None


def test_a_kind_the_project_does_not_allow_fails_the_sync(tmp_path: Path) -> None:
    project = obj(
        "AppProject",
        "narrow",
        "argoproj.io/v1alpha1",
        -1,
        namespace="argocd",
        spec={
            "sourceRepos": [URL],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "demo"}],
            "namespaceResourceWhitelist": [{"group": "", "kind": "Service"}],
        },
    )
    child = app("demo", "env", 0)
    child["spec"]["project"] = "narrow"
    run = bootstrap_files(
        tmp_path,
        {"root/all.yaml": [project, child], "env/all.yaml": [config("c")]},
        [app("root", "root", namespace="argocd", options=[])],
    )
    op = run.argocd.apps["demo"].operation
    assert op.phase == "Failed" and "resource :ConfigMap is not permitted in project narrow" in op.message


# ---- the controllers' rules ------------------------------------------------------------


def _cluster(profile: Profile, *objs: Obj, controllers: tuple[str, ...] = ()) -> Cluster:
    from tests.manifests.syncmodel.addons import CATALOGUE, status_default

    cluster = Cluster.fresh(profile)
    for addon in CATALOGUE:
        for crd in addon.install(addon_source(addon)).crds:
            cluster.install_crd(
                crd.group, crd.kind, crd.versions, crd.namespaced, addon.name, status_default(crd)
            )
    for controller in controllers:
        cluster.controllers[controller] = "test"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}, owner=None)
    for o in objs:
        cluster.apply(o, owner=None)
    return cluster


def addon_source(addon: Any) -> dict[str, Any]:
    return {"repoURL": addon.repo_url, "chart": addon.chart_or_path}


def _health(cluster: Cluster, kind: str, name: str, group: str, ns: str = "demo") -> tuple[str, str]:
    verdict = judge(cluster, HealthRules({}), cluster.lookup(group, kind, ns, name))
    return verdict.health.status, verdict.health.message


def _gateway_setup(service_type: str) -> list[Obj]:
    proxy = obj(
        "EnvoyProxy",
        "p",
        "gateway.envoyproxy.io/v1alpha1",
        namespace="envoy-gateway-system",
        spec={"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {"type": service_type}}}},
    )
    cls = obj(
        "GatewayClass",
        "eg",
        "gateway.networking.k8s.io/v1",
        spec={
            "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
            "parametersRef": {
                "group": "gateway.envoyproxy.io",
                "kind": "EnvoyProxy",
                "name": "p",
                "namespace": "envoy-gateway-system",
            },
        },
    )
    gw = obj(
        "Gateway",
        "gw",
        "gateway.networking.k8s.io/v1",
        namespace="demo",
        spec={"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
    )
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "envoy-gateway-system"}},
        proxy,
        cls,
        gw,
    ]


@pytest.mark.parametrize(
    ("profile", "service_type", "expected"),
    [
        (LAPTOP, "LoadBalancer", ("Progressing", "No addresses have been assigned to the Gateway")),
        (LAPTOP, "ClusterIP", ("Healthy", "Gateway is healthy")),
        (LAPTOP, "NodePort", ("Healthy", "Gateway is healthy")),
        (EKS, "LoadBalancer", ("Healthy", "Gateway is healthy")),
    ],
)
def test_envoy_gateway_programs_a_gateway_only_with_an_address(
    profile: Profile, service_type: str, expected: tuple[str, str]
) -> None:
    cluster = _cluster(profile, *_gateway_setup(service_type), controllers=("envoy-gateway",))
    assert _health(cluster, "Gateway", "gw", "gateway.networking.k8s.io") == expected
    assert _health(cluster, "GatewayClass", "eg", "gateway.networking.k8s.io", "") == (
        "Healthy",
        "Valid GatewayClass",
    )


def test_a_gateway_without_a_controller_keeps_its_crd_default_status() -> None:
    cluster = _cluster(LAPTOP, *_gateway_setup("ClusterIP"))
    assert _health(cluster, "Gateway", "gw", "gateway.networking.k8s.io") == (
        "Progressing",
        "Waiting for controller",
    )


def _secret_consumer(secret: str, key: str) -> Obj:
    return obj(
        "Deployment",
        "app",
        "apps/v1",
        namespace="demo",
        spec={
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "busybox:1.37",
                            "env": [
                                {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                            ],
                        }
                    ]
                },
            },
        },
    )


def _external_secret(store_kind: str = "ClusterSecretStore") -> Obj:
    return obj(
        "ExternalSecret",
        "creds",
        "external-secrets.io/v1",
        namespace="demo",
        spec={
            "secretStoreRef": {"kind": store_kind, "name": "store"},
            "target": {"name": "creds"},
            "data": [{"secretKey": "PASSWORD", "remoteRef": {"key": "db", "property": "password"}}],
        },
    )


def _store(provider: dict[str, Any]) -> Obj:
    return obj("ClusterSecretStore", "store", "external-secrets.io/v1", spec={"provider": provider})


def test_an_external_secret_without_its_store_is_degraded_and_its_secret_never_comes() -> None:
    cluster = _cluster(
        LAPTOP, _external_secret(), _secret_consumer("creds", "PASSWORD"), controllers=("external-secrets",)
    )
    # ESO puts the store error in an event; the condition says what Argo CD shows
    assert _health(cluster, "ExternalSecret", "creds", "external-secrets.io") == (
        "Degraded",
        "could not get secret data from provider",
    )
    verdict = judge(
        cluster, HealthRules({}), cluster.lookup("external-secrets.io", "ExternalSecret", "demo", "creds")
    )
    assert 'could not get ClusterSecretStore "store"' in verdict.cause
    assert _health(cluster, "Deployment", "app", "apps") == (
        "Degraded",
        'Deployment "app" exceeded its progress deadline',
    )


def test_a_store_that_serves_the_key_makes_the_secret_and_its_pods_ready() -> None:
    fake = {"fake": {"data": [{"key": "db", "value": json.dumps({"password": "x"})}]}}
    cluster = _cluster(
        LAPTOP,
        _store(fake),
        _external_secret(),
        _secret_consumer("creds", "PASSWORD"),
        controllers=("external-secrets",),
    )
    assert _health(cluster, "ExternalSecret", "creds", "external-secrets.io") == ("Healthy", "secret synced")
    assert _health(cluster, "Deployment", "app", "apps") == ("Healthy", "")


def _llm_secret(policy: str | None, *refs: tuple[str, str | None]) -> Obj:
    es = _external_secret()
    es["metadata"]["name"] = es["spec"]["target"]["name"] = "llm"
    if policy:
        es["spec"]["target"]["deletionPolicy"] = policy
    es["spec"]["data"] = [
        {"secretKey": f"KEY_{i}", "remoteRef": {"key": key, **({"property": prop} if prop else {})}}
        for i, (key, prop) in enumerate(refs)
    ]
    return es


@pytest.mark.parametrize(
    ("policy", "refs", "expected", "keys"),
    [
        # Retain (the default): a remote secret that does not exist fails the ExternalSecret
        (
            None,
            [("openai", None), ("absent", None)],
            ("Degraded", "could not get secret data from provider"),
            None,
        ),
        # Delete or Merge: it is skipped, the Secret holds what exists
        ("Delete", [("openai", None), ("absent", None)], ("Healthy", "secret synced"), {"KEY_0"}),
        ("Merge", [("openai", None), ("absent", None)], ("Healthy", "secret synced"), {"KEY_0"}),
        # nothing exists: Delete deletes (or never creates) the Secret, and says so
        ("Delete", [("absent", None)], ("Healthy", "secret deleted due to DeletionPolicy=Delete"), None),
        # a missing property of a secret that exists is an error whatever the policy
        ("Delete", [("openai", "nope")], ("Degraded", "could not get secret data from provider"), None),
    ],
)
def test_eso_skips_missing_remote_secrets_only_when_the_deletion_policy_is_not_retain(
    policy: str | None, refs: list[tuple[str, str | None]], expected: tuple[str, str], keys: set[str] | None
) -> None:
    """externalsecret_controller_secret.go GetProviderSecretData (ESO v2.9.0)."""
    from tests.manifests.syncmodel.status_secrets import external_secret_keys

    fake = {"fake": {"data": [{"key": "openai", "value": json.dumps({"key": "sk"})}]}}
    cluster = _cluster(LAPTOP, _store(fake), _llm_secret(policy, *refs), controllers=("external-secrets",))
    assert _health(cluster, "ExternalSecret", "llm", "external-secrets.io") == expected
    assert external_secret_keys(cluster, "demo", "llm") == keys


@pytest.mark.parametrize(
    ("profile", "auth", "healthy"),
    [
        (LAPTOP, {}, False),
        (EKS, {}, False),  # no Pod Identity association for the controller's account named below
        (EKS, {"jwt": {"serviceAccountRef": {"name": "irsa", "namespace": "demo"}}}, True),
    ],
)
def test_an_aws_store_needs_credentials_the_profile_gives(
    profile: Profile, auth: dict[str, Any], healthy: bool
) -> None:
    sa = obj(
        "ServiceAccount",
        "irsa",
        namespace="demo",
        annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"},
    )
    cluster = _cluster(
        profile,
        sa,
        _store({"aws": {"service": "SecretsManager", "region": "eu-west-1", "auth": auth}}),
        controllers=("external-secrets",),
    )
    cluster.identities["external-secrets"] = ("demo", "nobody")
    status, message = _health(cluster, "ClusterSecretStore", "store", "external-secrets.io", "")
    assert (status == "Healthy") is healthy, message


def _database(storage_class: str | None = None) -> Obj:
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class is not None:
        claim["storageClassName"] = storage_class
    return obj(
        "StatefulSet",
        "db",
        "apps/v1",
        namespace="demo",
        spec={
            "replicas": 1,
            "serviceName": "db",
            "selector": {"matchLabels": {"a": "db"}},
            "template": {
                "metadata": {"labels": {"a": "db"}},
                "spec": {"containers": [{"name": "c", "image": "postgres:17"}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}],
        },
    )


@pytest.mark.parametrize(
    ("profile", "storage_class", "expected"),
    [
        (LAPTOP, None, ("Healthy", "partitioned roll out complete: 1 new pods have been updated...")),
        (EKS, None, ("Progressing", "Waiting for 1 pods to be ready...")),
        (LAPTOP, "gp3", ("Progressing", "Waiting for 1 pods to be ready...")),
    ],
)
def test_a_statefulset_waits_for_a_claim_that_binds(
    profile: Profile, storage_class: str | None, expected: tuple[str, str]
) -> None:
    cluster = _cluster(profile, _database(storage_class))
    assert _health(cluster, "StatefulSet", "db", "apps") == expected


def test_a_standalone_claim_in_a_wait_for_first_consumer_class_stays_pending() -> None:
    pvc = obj(
        "PersistentVolumeClaim",
        "data",
        namespace="demo",
        spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    )
    cluster = _cluster(LAPTOP, pvc)
    assert _health(cluster, "PersistentVolumeClaim", "data", "")[0] == "Progressing"


def test_an_image_that_cannot_be_pulled_fails_a_hook_at_its_deadline(tmp_path: Path) -> None:
    broken = Profile(**{**LAPTOP.__dict__, "image_pullable": lambda image: not image.startswith("ghcr.io/")})
    job = _hook_job("migrate", None)
    job["spec"]["activeDeadlineSeconds"] = 900
    job["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "ghcr.io/owner/agent-system-orchestrator:9.9.9"
    )
    del job["metadata"]["namespace"]
    run = bootstrap_files(tmp_path, {"env/all.yaml": [job, config("after", 1)]}, [app("demo", "env")], broken)
    op = run.argocd.apps["demo"].operation
    assert op.phase == "Failed"
    # the reason lists only tasks that failed to apply (sync_context.go syncFailedTasks): the
    # Job was applied, its health failed it
    assert op.message == "one or more synchronization tasks completed unsuccessfully"
    assert op.results["batch/Job/demo/migrate:Sync"] == (
        "Synced",
        "Failed",
        "Job was active longer than specified deadline",
    )
    assert run.cluster.lookup("", "ConfigMap", "demo", "after") is None


# ---- Argo CD's Lua rules, as gopher-lua runs them --------------------------------------


def _script(path: str) -> str:
    return (LOCAL / "health-lua" / path).read_text()


def test_lua_scripts_run_with_goto_and_table_getn() -> None:
    cls = {
        "metadata": {"generation": 2},
        "status": {
            "conditions": [
                {"type": "Accepted", "status": "True", "observedGeneration": 1, "message": "stale"},
                {"type": "Accepted", "status": "False", "observedGeneration": 2, "message": "bad params"},
            ]
        },
    }
    assert run_health_script(_script("gateway.networking.k8s.io/GatewayClass.lua"), cls, True) == (
        "Degraded",
        "bad params",
    )  # the stale condition is skipped with goto
    rollout = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1, "strategy": {"canary": {}}},
        "status": {"observedGeneration": "1", "conditions": [], "pauseConditions": [{"reason": "x"}]},
    }
    assert run_health_script(_script("argoproj.io/Rollout.lua"), rollout, True) == (
        "Suspended",
        "Rollout is paused",
    )


def test_argocd_cm_scripts_without_open_libs_cannot_use_the_string_library() -> None:
    script = 'return {status = "Healthy", message = string.format("%d", 1)}'
    rules = HealthRules(parse_overrides({"resource.customizations.health.example.test_Widget": script}, "cm"))
    health = rules.judge(obj("Widget", "w", "example.test/v1"))
    assert health.status == "Unknown" and "string" in health.message
    rules = HealthRules(
        parse_overrides(
            {
                "resource.customizations.health.example.test_Widget": script,
                "resource.customizations.useOpenLibs.example.test_Widget": "true",
            },
            "cm",
        )
    )
    assert rules.judge(obj("Widget", "w", "example.test/v1")).status == "Healthy"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('return {status = "Fine"}', ("Unknown", "Lua returned an invalid health status")),
        ("return nil", ("", "")),
        ("return {}", ("", "")),
    ],
)
def test_lua_results_decode_as_argo_cd_decodes_them(script: str, expected: tuple[str, str]) -> None:
    rules = HealthRules(parse_overrides({"resource.customizations.health.example.test_Widget": script}, "cm"))
    health = rules.judge(obj("Widget", "w", "example.test/v1"))
    assert (health.status, health.message) == expected


def test_without_the_shared_folder_scripts_come_from_the_download_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone without ../shared reads Argo CD's scripts from the cache its first run filled
    (the download itself needs the network this machine does not have)."""
    from tests.manifests.syncmodel import reference

    monkeypatch.setattr(reference, "LOCAL", tmp_path / "no-shared")
    monkeypatch.setattr(reference, "CACHE", tmp_path / "cache")
    reference.listed_kinds.cache_clear()
    reference._lookup.cache_clear()
    try:
        folder = tmp_path / "cache" / "argocd-v3.5.1" / "resource_customizations" / "keda.sh" / "ScaledObject"
        folder.mkdir(parents=True)
        (folder / "health.lua").write_text(_script("keda.sh/ScaledObject.lua"))
        absent = (
            tmp_path / "cache" / "argocd-v3.5.1" / "resource_customizations" / "ConfigMap" / "no-health.lua"
        )
        absent.parent.mkdir(parents=True)
        absent.touch()
        script = reference.builtin_health_script("keda.sh", "ScaledObject")
        assert script is not None and script.origin == str(folder / "health.lua")
        assert reference.builtin_health_script("", "ConfigMap") is None
    finally:
        reference.listed_kinds.cache_clear()
        reference._lookup.cache_clear()


# ---- Argo CD's Go checks, ported (../shared/argocd-v3.5.1/health-go) --------------------


@pytest.mark.parametrize(
    ("kind", "api", "spec", "status", "expected"),
    [
        (
            "Deployment",
            "apps/v1",
            {"replicas": 2},
            {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2},
            ("Progressing", "Waiting for rollout to finish: 1 old replicas are pending termination..."),
        ),
        ("Deployment", "apps/v1", {"replicas": 2, "paused": True}, {}, ("Suspended", "Deployment is paused")),
        (
            "StatefulSet",
            "apps/v1",
            {"replicas": 1, "updateStrategy": {"type": "OnDelete"}},
            {"observedGeneration": 1, "readyReplicas": 1},
            ("Healthy", "statefulset has 1 ready pods"),
        ),
        (
            "Job",
            "batch/v1",
            {},
            {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
            ("Degraded", "BackoffLimitExceeded"),
        ),
        (
            "Job",
            "batch/v1",
            {},
            {"conditions": [{"type": "Suspended", "status": "True", "message": "paused"}]},
            ("Suspended", ""),
        ),
        ("PersistentVolumeClaim", "v1", {}, {"phase": "Lost"}, ("Degraded", "")),
        ("PersistentVolumeClaim", "v1", {}, {}, ("Unknown", "")),
        ("Service", "v1", {"type": "LoadBalancer"}, {"loadBalancer": {}}, ("Progressing", "")),
        (
            "Pod",
            "v1",
            {"restartPolicy": "Always"},
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "c",
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}},
                    }
                ],
            },
            ("Degraded", "pull failed"),
        ),
        (
            "HorizontalPodAutoscaler",
            "autoscaling/v2",
            {},
            {
                "conditions": [
                    {
                        "type": "ScalingActive",
                        "status": "False",
                        "reason": "FailedGetExternalMetric",
                        "message": "no metric",
                    }
                ]
            },
            ("Degraded", "no metric"),
        ),
    ],
)
def test_go_health_checks_say_what_argo_cd_says(
    kind: str, api: str, spec: dict[str, Any], status: dict[str, Any], expected: tuple[str, str]
) -> None:
    live = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "generation": 1},
        "spec": spec,
        "status": status,
    }
    health = HealthRules({}).judge(live)
    assert (health.status, health.message) == expected
    assert health.rule.startswith("Go health_")
