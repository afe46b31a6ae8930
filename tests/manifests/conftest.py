"""Session fixtures for the manifest tests: each overlay (and each component over the base)
is rendered once per session with `kubectl kustomize`; checkov runs once per overlay."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.manifests.support import COMPONENTS, ENVS, REPO, SERVICES, Render, render

ARTIFACTS = REPO / "test-artifacts" / "manifests"


@pytest.fixture(scope="session")
def rendered() -> dict[str, Render]:
    """overlays/<env> rendered once: env -> Render."""
    return {env: render(REPO / "overlays" / env) for env in ENVS}


@pytest.fixture(scope="session", params=ENVS)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def overlay(rendered: dict[str, Render], env: str) -> Render:
    return rendered[env]


COMPONENT_TEST_NAMESPACE = "agent-system-componenttest"


def _component_kustomization(folder: Path, components: list[str]) -> str:
    base = os.path.relpath(REPO / "base", folder)  # kustomize takes no absolute paths
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        f"namespace: {COMPONENT_TEST_NAMESPACE}",
        "resources:",
        f"  - {base}",
        "components:",
        *(f"  - {base}/components/{c}" for c in components),
        "images:",
        *(
            f"  - name: agent-system-{s}\n    newName: ghcr.io/OWNER/agent-system-{s}\n    newTag: 0.0.0-test"
            for s in SERVICES
        ),
    ]
    text = "\n".join(lines) + "\n"
    if "keda" in components:
        # what an overlay enabling KEDA adds (see overlays/prod)
        text += textwrap.dedent("""\
            replacements:
              - source:
                  kind: ScaledObject
                  name: worker
                  fieldPath: metadata.namespace
                targets:
                  - select:
                      kind: ScaledObject
                      name: worker
                    fieldPaths:
                      - spec.triggers.0.metadata.address
                    options:
                      delimiter: "."
                      index: 1
            """)
    return text


@pytest.fixture(scope="session")
def component_renders() -> dict[str, Render]:
    """Each component alone over the base, plus "all": every component together, in the order
    an overlay lists them (support.COMPONENTS)."""
    out: dict[str, Render] = {}
    sets = {c: [c] for c in COMPONENTS}
    sets["all"] = list(COMPONENTS)
    for name, comps in sets.items():
        # inside the repository (test-artifacts/ is ignored by git): kustomize mis-resolves a
        # second component whose relative path climbs to the filesystem root
        folder = ARTIFACTS / "components" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kustomization.yaml").write_text(_component_kustomization(folder, comps))
        out[name] = render(folder)
    return out


@pytest.fixture(scope="session")
def every_render(rendered: dict[str, Render], component_renders: dict[str, Render]) -> list[Render]:
    return list(rendered.values()) + list(component_renders.values())


@pytest.fixture(scope="session")
def artifacts() -> Iterator[dict[str, object]]:
    """Figures the suite measured, written to test-artifacts/manifests/figures.json."""
    figures: dict[str, object] = {}
    yield figures
    if figures:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path: Path = ARTIFACTS / "figures.json"
        path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
