"""The commits the kind end-to-end run serves from its in-cluster Git server.

`prepare` turns a copy of the commit under test into what a fork's main would hold: every
Argo CD source points at the served repository (a fork's step 0 does the same with its
GitHub URL), and every overlay runs the images the workflow built and loaded into kind
(`agent-system-<service>:<tag>`, pulled only if absent: they exist in no registry). The
other functions are the changes the tests push as a person would: a replica count, and
prod's KEDA scaling turned on for dev.

    python -m tests.cluster.served prepare --repo DIR --git-url URL --image-tag e2e
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER_URL = "https://github.com/OWNER/agent-system.git"
SERVICES = ("frontend", "gateway", "orchestrator", "chat", "worker")
PULLED_KINDS = (("apps", "Deployment"), ("apps", "StatefulSet"), ("batch", "Job"), ("argoproj.io", "Rollout"))


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _dump(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=110))


def point_sources_at(repo: Path, git_url: str) -> list[Path]:
    """Every Argo CD file naming the placeholder repository now names git_url."""
    changed = []
    for folder in ("argocd", "apps"):
        for path in sorted((repo / folder).rglob("*.yaml")):
            text = path.read_text()
            if PLACEHOLDER_URL in text:
                path.write_text(text.replace(PLACEHOLDER_URL, git_url))
                changed.append(path)
    return changed


def use_loaded_images(repo: Path, tag: str) -> None:
    """Each overlay runs agent-system-<service>:<tag>, pulled only when not on the node."""
    for kustomization in sorted((repo / "overlays").glob("*/kustomization.yaml")):
        doc = _load(kustomization)
        ours = {f"agent-system-{s}" for s in SERVICES}
        images = [i for i in doc.get("images", []) if i["name"] not in ours]
        images += [{"name": name, "newName": name, "newTag": tag} for name in sorted(ours)]
        doc["images"] = images
        patches = doc.setdefault("patches", [])
        for group, kind in PULLED_KINDS:
            patches.append(
                {
                    "target": {"group": group, "kind": kind},
                    "patch": "- op: replace\n  path: /spec/template/spec/containers/0/imagePullPolicy\n"
                    "  value: IfNotPresent\n",
                }
            )
        _dump(kustomization, doc)


def set_replicas(repo: Path, env: str, name: str, count: int) -> None:
    """The one-line change of the overlay's `replicas:` field."""
    path = repo / "overlays" / env / "kustomization.yaml"
    doc = _load(path)
    (entry,) = [r for r in doc["replicas"] if r["name"] == name]
    entry["count"] = count
    _dump(path, doc)


def enable_keda(repo: Path, env: str) -> None:
    """What prod does, for env: the keda component with its trigger address in env's
    namespace, and kedaWorker: true so that Argo CD leaves the worker's replicas to KEDA."""
    path = repo / "overlays" / env / "kustomization.yaml"
    doc = _load(path)
    doc.setdefault("components", []).append("../../base/components/keda")
    prod = _load(repo / "overlays" / "prod" / "kustomization.yaml")
    (replacement,) = [r for r in prod["replacements"] if r["source"]["kind"] == "Namespace"]
    replacement["source"]["name"] = f"agent-system-{env}"
    doc.setdefault("replacements", []).append(replacement)
    _dump(path, doc)
    data_path = repo / "argocd" / "environments" / f"{env}.yaml"
    data = _load(data_path)
    data["kedaWorker"] = True
    _dump(data_path, data)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=agent-system e2e",
            "-c",
            "user.email=e2e@agent-system.invalid",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def push(repo: Path, url: str) -> None:
    git(repo, "push", "--quiet", url, "HEAD:refs/heads/main")


def prepare(repo: Path, git_url: str, tag: str, source: str = "") -> str:
    """The served commit, on top of the commit under test (a repository is made of the
    folder first if it is none: the workflow starts from `git archive` of its checkout)."""
    if not (repo / ".git").exists():
        git(repo, "init", "--quiet", "--initial-branch=main")
        commit(repo, f"the commit under test {source}".strip())
    point_sources_at(repo, git_url)
    use_loaded_images(repo, tag)
    return commit(repo, f"e2e: sources at {git_url}, images agent-system-*:{tag}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Prepare the commit the kind e2e run serves.")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--repo", type=Path, required=True)
    prep.add_argument("--git-url", required=True)
    prep.add_argument("--image-tag", required=True)
    prep.add_argument("--source", default="", help="what the commit under test is (its id)")
    args = parser.parse_args()
    print(prepare(args.repo, args.git_url, args.image_tag, args.source))


if __name__ == "__main__":
    main()
