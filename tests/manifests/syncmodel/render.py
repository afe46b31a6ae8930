"""What Argo CD's repo server and ApplicationSet controller make of this repository.

- An Application source inside the repository is rendered as the repo server would:
  a folder with a kustomization is built with kustomize (`kubectl kustomize`, the same
  kustomize v5 Argo CD bundles); any other folder is a plain directory of YAML/JSON files
  (non-recursive unless `directory.recurse`). A Helm chart folder, kustomize options on the
  Application or remote kustomize resources are not supported and reported as unknown.
- The ApplicationSet's generators (list, git directories, git files, matrix of two, a
  post-selector on the flattened parameters) read this checkout as the revision Argo CD
  would fetch; templates are Go templates (tests/manifests/support.py's evaluator).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.manifests.support import TemplateError, deep_merge, go_template, kubectl, render_template
from tests.manifests.syncmodel.objects import Obj, selects

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# one render per checkout, path and options in a session (both profiles render the overlays)
_RENDERED: dict[tuple[str, str, str], list[Obj]] = {}


class RenderError(Exception):
    """The model cannot produce what Argo CD would render: reported as unknown."""


def load_all(text: str) -> list[Obj]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if isinstance(d, dict)]  # noqa: S506 - safe loader


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").lower()


@dataclass
class Repo:
    """A checkout of this repository and the URLs that point at it."""

    root: Path
    urls: set[str] = field(default_factory=set)

    def is_ours(self, repo_url: str) -> bool:
        return normalize_url(repo_url) in self.urls

    def load(self, rel: str) -> list[Obj]:
        return load_all((self.root / rel).read_text())

    def render(self, source: dict[str, Any]) -> list[Obj]:
        """The manifests of an Application source pointing into this repository."""
        unsupported = sorted(set(source) & {"kustomize", "helm", "plugin"})
        if unsupported:
            raise RenderError(f"source options {unsupported} are not modelled")
        rel = (source.get("path") or ".").strip("/") or "."
        directory = source.get("directory") or {}
        cache_key = (str(self.root), rel, json.dumps(directory, sort_keys=True))
        if cache_key not in _RENDERED:
            _RENDERED[cache_key] = self._render_path(rel, directory)
        return copy.deepcopy(_RENDERED[cache_key])

    def _render_path(self, rel: str, directory: dict[str, Any]) -> list[Obj]:
        folder = self.root / rel
        if not folder.is_dir():
            raise RenderError(f"path {rel} does not exist in the repository")
        if any((folder / n).exists() for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
            proc = subprocess.run(
                [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120
            )
            if proc.returncode != 0:
                raise RenderError(f"kustomize build {rel} failed: {proc.stderr.strip()}")
            return load_all(proc.stdout)
        if (folder / "Chart.yaml").exists():
            raise RenderError(f"{rel} is a Helm chart: the model does not render charts")
        pattern = "**/*" if directory.get("recurse") else "*"
        include, exclude = directory.get("include"), directory.get("exclude")
        docs: list[Obj] = []
        for path in sorted(folder.glob(pattern)):
            name = str(path.relative_to(folder))
            if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                continue
            if (include and not _brace_match(name, include)) or (exclude and _brace_match(name, exclude)):
                continue
            docs += load_all(path.read_text())
        return docs

    # ---- ApplicationSet generators ---------------------------------------------------

    def generate(self, appset: Obj, clusters: list[dict[str, Any]]) -> list[Obj]:
        spec = appset["spec"]
        if not spec.get("goTemplate"):
            raise RenderError("ApplicationSets without goTemplate are not modelled")
        apps = []
        for generator in spec.get("generators") or []:
            for params in self._params(generator, clusters):
                apps.append(self._application(appset, params))
        return apps

    def _params(self, generator: dict[str, Any], clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kinds = [k for k in generator if k not in ("selector", "template")]
        if len(kinds) != 1:
            raise RenderError(f"generator with {kinds}")
        kind, body = kinds[0], generator[kinds[0]]
        if kind == "list":
            params = [dict(e) for e in body.get("elements") or []]
        elif kind == "git":
            if not self.is_ours(body.get("repoURL", "")):
                raise RenderError(f"git generator on another repository: {body.get('repoURL')}")
            params = self._git(body)
        elif kind == "clusters":
            params = [c for c in clusters if selects(body.get("selector"), c["metadata"]["labels"])]
        elif kind == "matrix":
            first, second = body["generators"]
            params = [
                deep_merge(a, b)
                for a in self._params(first, clusters)
                for b in self._params(second, clusters)
            ]
        else:
            raise RenderError(f"{kind} generators are not modelled")
        selector = generator.get("selector")
        return [p for p in params if selector is None or selects(selector, flatten(p))]

    def _git(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if body.get("directories"):
            included = [d["path"] for d in body["directories"] if not d.get("exclude")]
            excluded = [d["path"] for d in body["directories"] if d.get("exclude")]
            for path in sorted(p for p in self.root.glob("**/") if p.is_dir() and p != self.root):
                rel = str(path.relative_to(self.root))
                if any(fnmatch.fnmatchcase(rel, g) for g in included) and not any(
                    fnmatch.fnmatchcase(rel, g) for g in excluded
                ):
                    out.append({"path": _path_params(rel)})
        for entry in body.get("files") or []:
            for path in sorted(self.root.glob(entry["path"])):
                rel = str(path.relative_to(self.root))
                if not fnmatch.fnmatchcase(rel, entry["path"]) or entry.get("exclude"):
                    continue
                found = yaml.safe_load(path.read_text())
                for obj in found if isinstance(found, list) else [found or {}]:
                    params = dict(obj)
                    folder = str(Path(rel).parent)
                    params["path"] = {
                        **_path_params(folder),
                        "filename": path.name,
                        "filenameNormalized": _sanitize(path.name),
                    }
                    out.append(params)
        return out

    def _application(self, appset: Obj, params: dict[str, Any]) -> Obj:
        spec = appset["spec"]
        try:
            app = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                **render_template(spec["template"], params),
            }
            patch = yaml.safe_load(go_template(spec.get("templatePatch", ""), params)) or {}
        except TemplateError as exc:
            raise RenderError(f"ApplicationSet template: {exc}") from exc
        app = deep_merge(app, patch)
        app["metadata"]["namespace"] = appset["metadata"].get("namespace", "argocd")
        return app


def _path_params(rel: str) -> dict[str, Any]:
    base = Path(rel).name if rel != "." else "."
    return {"path": rel, "basename": base, "basenameNormalized": _sanitize(base), "segments": rel.split("/")}


def _sanitize(name: str) -> str:
    """utils.SanitizeName: a DNS-1123 name."""
    return re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")[:63]


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """flattenParameters (flatten.DotStyle, values printed with %v)."""
    out: dict[str, str] = {}
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            out.update(flatten(value, name + "."))
        else:
            out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _brace_match(name: str, pattern: str) -> bool:
    """directory include/exclude: a glob, or {a,b} alternatives."""
    alternatives = (
        pattern[1:-1].split(",") if pattern.startswith("{") and pattern.endswith("}") else [pattern]
    )
    return any(fnmatch.fnmatchcase(name, p.strip()) for p in alternatives)
