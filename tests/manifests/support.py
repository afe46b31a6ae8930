"""Helpers for the manifest tests: rendering with kubectl's kustomize, walking rendered
objects, CRD schemas, a small NetworkPolicy evaluator, a small Go-template evaluator
(enough for the ApplicationSet, which Argo CD renders with text/template) and the
ApplicationSet's expansion per bootstrap profile."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.shared_data import crd_file

REPO = Path(__file__).resolve().parents[2]
ENVS = ("dev", "staging", "prod")
SERVICES = ("frontend", "gateway", "orchestrator", "chat", "worker")
# in the order an overlay lists them: vpa and observability before rollouts (its patches
# turn the orchestrator's VPA towards the Rollout; its analysis reads the PodMonitor's series)
COMPONENTS = (
    "keda",
    "httproute",
    "external-secrets",
    "tracing",
    "observability",
    "vpa",
    "rollouts",
    "sandbox",
)
# the bootstrap profiles: what each root Application syncs (apps/root.yaml, apps/root-eks.yaml)
PROFILES = {"laptop": "apps", "eks": "apps/eks"}

# the design card (DESIGN.md, outside this repository): service, port, Kubernetes Service
# name (None: no Service)
DESIGN_SERVICES = {
    "frontend": (3000, "frontend-service"),
    "gateway": (8080, "api-gateway-service"),
    "orchestrator": (8000, "orchestrator-service"),
    "chat": (3001, "chat-service"),
    "worker": (9100, None),
    "redis": (6379, "redis-service"),
    "postgres": (5432, "postgres-service"),
}
DESIGN_REPLICAS = {
    "dev": {"frontend": 1, "gateway": 1, "orchestrator": 1, "chat": 1, "worker": 1},
    "staging": {"frontend": 1, "gateway": 2, "orchestrator": 2, "chat": 2, "worker": 2},
    "prod": {"frontend": 2, "gateway": 2, "orchestrator": 2, "chat": 2, "worker": 3},
}

# (group, CRD file) for every custom resource kind the repository uses. The kinds with no CRD
# in ../shared/crds (VerticalPodAutoscaler, PodMonitor, EnvoyProxy) are checked field by field.
CRD_FILES = {
    ("argoproj.io", "Application"): "argoproj.io_applications.yaml",
    ("argoproj.io", "ApplicationSet"): "argoproj.io_applicationsets.yaml",
    ("argoproj.io", "AppProject"): "argoproj.io_appprojects.yaml",
    ("argoproj.io", "Rollout"): "argoproj.io_rollouts.yaml",
    ("argoproj.io", "AnalysisTemplate"): "argoproj.io_analysistemplates.yaml",
    ("keda.sh", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
    ("gateway.networking.k8s.io", "HTTPRoute"): "gateway.networking.k8s.io_httproutes.yaml",
    ("gateway.networking.k8s.io", "Gateway"): "gateway.networking.k8s.io_gateways.yaml",
    ("gateway.networking.k8s.io", "GatewayClass"): "gateway.networking.k8s.io_gatewayclasses.yaml",
    ("external-secrets.io", "ExternalSecret"): "external-secrets.io_externalsecrets.yaml",
    ("external-secrets.io", "ClusterSecretStore"): "external-secrets.io_clustersecretstores.yaml",
}
FIELD_CHECKED_KINDS = {
    ("autoscaling.k8s.io", "VerticalPodAutoscaler"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("gateway.envoyproxy.io", "EnvoyProxy"),
}

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "Rollout")

# libyaml when PyYAML has it: the CRDs weigh megabytes
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_all(text: str) -> list[Any]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if d]  # noqa: S506 - a safe loader


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not on the PATH: the manifest tests render with `kubectl kustomize`", pytrace=False
        )
    return path


@dataclass
class Render:
    path: Path
    docs: list[dict[str, Any]]
    seconds: float
    text: str = field(repr=False)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] in kinds]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)} in {self.path}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        return found[0] if found else None

    def workload(self, name: str) -> dict[str, Any]:
        """A service's pods' owner: its Deployment, or the Rollout that replaced it."""
        found = [d for d in self.of_kind("Deployment", "Rollout") if d["metadata"]["name"] == name]
        assert len(found) == 1, f"Deployment or Rollout {name}: found {len(found)} in {self.path}"
        return found[0]


def render(path: Path) -> Render:
    start = time.perf_counter()
    proc = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{proc.stderr}", pytrace=False)
    docs = load_all(proc.stdout)
    return Render(path, docs, seconds, proc.stdout)


def group_of(doc: dict[str, Any]) -> str:
    api = doc["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


def is_custom(doc: dict[str, Any]) -> bool:
    key = (group_of(doc), doc["kind"])
    return key in CRD_FILES or key in FIELD_CHECKED_KINDS


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"].get("labels", {})


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def secret_refs(doc: dict[str, Any]) -> set[tuple[str, bool]]:
    """(secret name, optional) for every Secret a workload's pods read."""
    refs: set[tuple[str, bool]] = set()
    for c in containers(doc):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], bool(ref.get("optional", False))))
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                refs.add((src["secretRef"]["name"], bool(src["secretRef"].get("optional", False))))
    for vol in pod_spec(doc).get("volumes", []):
        if "secret" in vol:
            refs.add((vol["secret"]["secretName"], bool(vol["secret"].get("optional", False))))
    return refs


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a float (cores for CPU, bytes for memory)."""
    text = str(value)
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# ---------------------------------------------------------------------------------------
# CRD schemas


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    name = CRD_FILES[(group, kind)]
    crd = yaml.load(crd_file(name).read_text(), Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind, name
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            assert v.get("served", False), f"{group}/{version} {kind} is not served by the CRD"
            return v["schema"]["openAPIV3Schema"]
    raise AssertionError(f"{name} has no version {version}")


def validate_custom(doc: dict[str, Any]) -> None:
    import jsonschema

    group, version = doc["apiVersion"].split("/")
    schema = crd_schema(group, doc["kind"], version)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    # a structural schema forbids unknown fields: jsonschema only does that with
    # additionalProperties, which CRDs leave out, so check for unknown fields ourselves
    unknown = list(unknown_fields(doc, schema))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] + [
        f"{p}: unknown field" for p in unknown
    ]
    assert not problems, f"{doc['kind']}/{doc['metadata'].get('name')} does not match its CRD:\n" + "\n".join(
        problems
    )


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Any:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key in ("apiVersion", "kind", "metadata"):
                continue
            if props is not None and key in props:
                yield from unknown_fields(item, props[key], f"{path}/{key}")
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, f"{path}/{key}")
            elif props is not None or extra is False:
                yield f"{path}/{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}/{i}")


# ---------------------------------------------------------------------------------------
# NetworkPolicy evaluation (the semantics of networking.k8s.io/v1, for one namespace)


@dataclass(frozen=True)
class Peer:
    name: str
    namespace: str | None  # None: not a pod (an address outside the cluster)
    labels: tuple[tuple[str, str], ...] = ()
    ns_labels: tuple[tuple[str, str], ...] = ()
    ip: str = "10.244.0.10"
    named_ports: tuple[tuple[str, int], ...] = ()  # container port names, for named policy ports

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_ns: str) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        addr = ipaddress.ip_address(peer.ip)
        net = ipaddress.ip_network(block["cidr"])
        if addr.version != net.version or addr not in net:
            return False
        return not any(
            addr.version == ipaddress.ip_network(e).version and addr in ipaddress.ip_network(e)
            for e in block.get("except", [])
        )
    if peer.namespace is None:  # an outside address matches ipBlocks only
        return False
    ns_sel = rule_peer.get("namespaceSelector")
    pod_sel = rule_peer.get("podSelector")
    if ns_sel is None:
        if peer.namespace != policy_ns:
            return False
    elif not selector_matches(ns_sel, dict(peer.ns_labels)):
        return False
    return selector_matches(pod_sel, peer.label_map) if pod_sel is not None else True


def port_matches(rule_ports: list[dict[str, Any]] | None, port: int, proto: str, dst: Peer) -> bool:
    """A named port means the destination pod's container port of that name."""
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        if "port" not in p:
            return True
        number = p["port"] if isinstance(p["port"], int) else dict(dst.named_ports).get(p["port"])
        if number is not None and number <= port <= p.get("endPort", number):
            return True
    return False


def direction_allows(
    policies: list[dict[str, Any]],
    subject: Peer,
    other: Peer,
    port: int,
    proto: str,
    direction: str,
    namespace: str,
) -> bool:
    """Whether the policies of `namespace` let `subject` send (Egress) to / receive (Ingress)
    from `other` on port/proto. A pod no policy of that direction selects is open."""
    if subject.namespace != namespace:
        return True  # not ours: other namespaces and the outside are not governed here
    kind = "Egress" if direction == "egress" else "Ingress"
    selecting = [
        p
        for p in policies
        if selector_matches(p["spec"].get("podSelector", {}), subject.label_map)
        and kind in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(direction, []) or []:
            peers = rule.get("to" if direction == "egress" else "from")
            dst = other if direction == "egress" else subject
            if not port_matches(rule.get("ports"), port, proto, dst):
                continue
            if not peers or any(peer_matches(rp, other, namespace) for rp in peers):
                return True
    return False


def connection_allowed(
    policies: list[dict[str, Any]], src: Peer, dst: Peer, port: int, proto: str, namespace: str
) -> bool:
    return direction_allows(policies, src, dst, port, proto, "egress", namespace) and direction_allows(
        policies, dst, src, port, proto, "ingress", namespace
    )


# ---------------------------------------------------------------------------------------
# Go text/template, the subset the ApplicationSet uses: {{ .a.b }}, {{ if eq .a "x" }},
# {{ if .a }}, {{ else }}, {{ end }}, with {{- -}} whitespace trimming and missingkey=error.

_ACTION = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


class TemplateError(Exception):
    pass


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"map has no entry for key {part!r} in {dotted} (missingkey=error)")
        value = value[part]
    return value


def _condition(expr: str, params: dict[str, Any]) -> bool:
    m = re.fullmatch(r'eq\s+(\.[\w.]+)\s+"([^"]*)"', expr)
    if m:
        return str(_lookup(params, m.group(1))) == m.group(2)
    m = re.fullmatch(r"(\.[\w.]+)", expr)
    if m:
        return bool(_lookup(params, m.group(1)))
    raise TemplateError(f"unsupported condition {expr!r}: extend tests/manifests/support.py")


def go_template(text: str, params: dict[str, Any]) -> str:
    # tokenize, applying the trim markers
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(text):
        literal = text[pos : m.start()]
        if m.group(1):
            literal = literal.rstrip()
        tokens.append(("text", literal))
        tokens.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    tokens.append(("text", text[pos:]))

    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (parent active, this branch active)

    def active() -> bool:
        return all(branch for _, branch in stack)

    for kind, value in tokens:
        if kind == "text":
            if active():
                out.append(value)
            continue
        if value.startswith("if "):
            parent = active()
            stack.append((parent, parent and _condition(value[3:].strip(), params)))
        elif value == "else":
            if not stack:
                raise TemplateError("else without if")
            parent, branch = stack.pop()
            stack.append((parent, parent and not branch))
        elif value == "end":
            if not stack:
                raise TemplateError("end without if")
            stack.pop()
        elif re.fullmatch(r"\.[\w.]+", value):
            if active():
                out.append(str(_lookup(params, value)))
        else:
            raise TemplateError(f"unsupported action {{{{{value}}}}}: extend tests/manifests/support.py")
    if stack:
        raise TemplateError("if without end")
    return "".join(out)


def render_template(value: Any, params: dict[str, Any]) -> Any:
    """Argo CD applies Go templates to every string field of the template."""
    if isinstance(value, str):
        return go_template(value, params)
    if isinstance(value, dict):
        return {k: render_template(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [render_template(v, params) for v in value]
    return value


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def glob_dirs(pattern: str) -> list[Path]:
    """The directories a git directory generator's path glob matches, as Argo CD does."""
    return sorted(
        p for p in REPO.glob(pattern) if p.is_dir() and fnmatch.fnmatch(str(p.relative_to(REPO)), pattern)
    )


# ---------------------------------------------------------------------------------------
# The ApplicationSet: its git files generator over argocd/environments/*.yaml, the generator's
# label selector (applicationset/generators/generator_spec_processor.go: matched against the
# parameters flattened with dots, values formatted with %v), the template and templatePatch.


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}.{i}"))
        return out
    if isinstance(value, bool):
        return {prefix: "true" if value else "false"}  # Go's %v of a bool
    return {prefix: str(value)}


def environment_files(pattern: str, root: Path | None = None) -> list[Path]:
    return sorted(p for p in (root or REPO).glob(pattern) if p.is_file())


def file_params(path: Path, root: Path | None = None) -> dict[str, Any]:
    """What a git files generator hands the template for one file (goTemplate: the file's
    keys as they are, plus path.*)."""
    params = dict(yaml.safe_load(path.read_text()))
    rel = path.relative_to(root or REPO)
    folder = rel.parent
    params["path"] = {
        "path": str(folder),
        "basename": folder.name,
        "filename": path.name,
        "basenameNormalized": folder.name,
        "filenameNormalized": path.name,
        "segments": list(folder.parts),
    }
    return params


def expand_applicationset(appset: dict[str, Any], root: Path | None = None) -> dict[str, dict[str, Any]]:
    """The Applications the ApplicationSet controller generates from the repository at root
    (this checkout by default): environment -> Application."""
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    (generator,) = spec["generators"]
    git = generator["git"]
    selector = generator.get("selector")
    apps: dict[str, dict[str, Any]] = {}
    for entry in git["files"]:
        for path in environment_files(entry["path"], root):
            params = file_params(path, root)
            if selector is not None and not selector_matches(selector, _flatten(params)):
                continue
            app = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                **render_template(spec["template"], params),
            }
            patch = yaml.safe_load(go_template(spec.get("templatePatch", ""), params)) or {}
            app = deep_merge(app, patch)
            app["metadata"].setdefault("namespace", appset["metadata"]["namespace"])
            apps[params["environment"]] = app
    return apps
