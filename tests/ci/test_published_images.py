"""Every image an overlay runs can be pulled: ours are names and tags that the workflows
publish (derived from build-images.yaml, release.yaml and image_ref.py, not listed here),
every other image is pinned by tag and digest."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest

from tests.ci.support import REPO, SCRIPTS, load_script, workflow
from tests.manifests.support import render

IMAGE_REF = load_script(SCRIPTS / "image_ref.py")
OVERLAYS = sorted(p.parent for p in REPO.glob("overlays/*/kustomization.yaml"))
OURS = re.compile(
    r"(?P<name>ghcr\.io/(?P<owner>[^/]+)/agent-system-(?P<service>[\w-]+)):(?P<tag>[\w.-]+)"
    r"(@sha256:[0-9a-f]{64})?"
)
PINNED = re.compile(r"[\w./-]+(:\d+)?/?[\w./-]*:[\w.-]+@sha256:[0-9a-f]{64}")
# what `make fork` replaces; any other owner must be written as the registry spells it
PLACEHOLDER = "OWNER"


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    if "jobTemplate" in spec:  # CronJob
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template", {}).get("spec")
    return [template] if isinstance(template, dict) and "containers" in template else []


def images(path: Path) -> list[tuple[str, str]]:
    """(object, image) for every container of every workload the overlay renders."""
    found = []
    for doc in render(path).docs:
        for spec in pod_specs(doc):
            for c in spec.get("initContainers", []) + spec["containers"]:
                found.append((f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}", c["image"]))
    return found


def published_services() -> set[str]:
    return set(workflow("build-images.yaml")["jobs"]["build"]["strategy"]["matrix"]["service"])


def tag_is_published(tag: str) -> bool:
    """A tag that a run of the workflows pushes: sha-<commit> from images.yaml, X.Y.Z from the
    release of the tag vX.Y.Z (release.yaml's trigger must take that tag)."""
    if re.fullmatch(r"sha-[0-9a-f]{12}", tag):
        return IMAGE_REF.image_tag("refs/heads/main", tag[4:] + "0" * 28) == tag
    release_tags = workflow("release.yaml")["on"]["push"]["tags"]
    git_tag = f"v{tag}"
    try:
        built = IMAGE_REF.image_tag(f"refs/tags/{git_tag}", "0" * 40)
    except ValueError:
        return False
    return built == tag and any(fnmatch.fnmatchcase(git_tag, pattern) for pattern in release_tags)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_image_is_published_or_pinned(overlay: Path) -> None:
    services = published_services()
    found = images(overlay)
    assert found, f"{overlay.name} renders no workload"
    ours = 0
    for where, image in found:
        match = OURS.fullmatch(image)
        if match:
            ours += 1
            owner = match["owner"]
            assert owner in (PLACEHOLDER, owner.lower()), f"{where}: {image}: registry paths are lower case"
            assert match["service"] in services, f"{where}: no workflow builds {image}"
            assert match["name"].lower() == IMAGE_REF.image_name(owner, match["service"]), f"{where}: {image}"
            assert tag_is_published(match["tag"]), f"{where}: no workflow pushes the tag of {image}"
        else:
            assert "agent-system" not in image, f"{where}: {image} is not where the workflows publish"
            assert PINNED.fullmatch(image), f"{where}: {image}: pin third-party images by tag and digest"
    assert ours >= len(services), f"{overlay.name}: expected every service image"


def test_the_rule_rejects_what_no_workflow_pushes() -> None:
    assert tag_is_published("0.1.0") and tag_is_published("sha-0123456789ab")
    for tag in ("latest", "sha-0123", "v0.1.0", "0.1"):
        assert not tag_is_published(tag), tag
