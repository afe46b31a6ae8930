"""Test data that lives outside the repository: ../shared/fixtures/pages and ../shared/crds.

Tests look beside the checkout first; a clone elsewhere downloads the same files from the
pinned upstream addresses (see each README in ../shared) into a cache folder, and fails
with a clear message when neither works. Nothing here is ever copied into the repo.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = Path(os.environ.get("AGENT_TEST_CACHE", Path.home() / ".cache" / "agent-system-tests"))

READABILITY_COMMIT = "ab4027a8b37669745016869a37a504727992b2ba"
# fmt: off
PAGES_URL = (
    f"https://raw.githubusercontent.com/mozilla/readability/{READABILITY_COMMIT}/test/test-pages/{{page}}/{{file}}"
)
PAGE_NAMES = (
    "ars-1", "bbc-1", "cnn", "dropbox-blog", "engadget", "gitlab-blog", "google-sre-book-1",
    "guardian-1", "ietf-1", "lwn-1", "medium-1", "mozilla-1", "nytimes-1", "quanta-1",
    "salon-1", "telegraph", "theverge", "v8-blog", "wapo-1", "wikipedia",
)
# fmt: on
PAGE_FILES = ("source.html", "expected.html", "expected-metadata.json")

# fmt: off
CRD_UPSTREAM = {
    "argoproj.io_applicationsets.yaml": "argoproj/argo-cd/v3.5.1/manifests/crds/applicationset-crd.yaml",
    "argoproj.io_applications.yaml": "argoproj/argo-cd/v3.5.1/manifests/crds/application-crd.yaml",
    "argoproj.io_appprojects.yaml": "argoproj/argo-cd/v3.5.1/manifests/crds/appproject-crd.yaml",
    "argoproj.io_rollouts.yaml": "argoproj/argo-rollouts/v1.9.1/manifests/crds/rollout-crd.yaml",
    "argoproj.io_analysistemplates.yaml":
        "argoproj/argo-rollouts/v1.9.1/manifests/crds/analysis-template-crd.yaml",
    "keda.sh_scaledobjects.yaml": "kedacore/keda/v2.20.2/config/crd/bases/keda.sh_scaledobjects.yaml",
    "keda.sh_triggerauthentications.yaml":
        "kedacore/keda/v2.20.2/config/crd/bases/keda.sh_triggerauthentications.yaml",
    "gateway.networking.k8s.io_httproutes.yaml":
        "kubernetes-sigs/gateway-api/v1.6.1/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    "gateway.networking.k8s.io_gateways.yaml":
        "kubernetes-sigs/gateway-api/v1.6.1/config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
    "gateway.networking.k8s.io_gatewayclasses.yaml":
        "kubernetes-sigs/gateway-api/v1.6.1/config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
    "external-secrets.io_externalsecrets.yaml":
        "external-secrets/external-secrets/v2.9.0/config/crds/bases/external-secrets.io_externalsecrets.yaml",
    "external-secrets.io_secretstores.yaml":
        "external-secrets/external-secrets/v2.9.0/config/crds/bases/external-secrets.io_secretstores.yaml",
    "external-secrets.io_clustersecretstores.yaml":
        "external-secrets/external-secrets/v2.9.0/config/crds/bases/external-secrets.io_clustersecretstores.yaml",
}
# fmt: on


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - pinned https address
            tmp.write_bytes(resp.read())
    except OSError as exc:
        pytest.fail(
            f"test data missing: not found beside the checkout ({SHARED}) and the download of "
            f"{url} failed ({exc}). Put the shared folder next to the repo or allow the download.",
            pytrace=False,
        )
    tmp.replace(dest)
    return dest


def page_file(page: str, name: str) -> Path:
    """A fixture page file: ../shared/fixtures/pages/<page>/<name>, or its cached download."""
    local = SHARED / "fixtures" / "pages" / page / name
    if local.exists():
        return local
    cached = CACHE / "pages" / page / name
    if cached.exists():
        return cached
    return _download(PAGES_URL.format(page=page, file=name), cached)


def page_dir(page: str) -> Path:
    """A folder holding all three files of one fixture page."""
    for name in PAGE_FILES:
        path = page_file(page, name)
    return path.parent


def crd_file(name: str) -> Path:
    """An upstream CRD schema: ../shared/crds/<name>, or its cached download."""
    local = SHARED / "crds" / name
    if local.exists():
        return local
    cached = CACHE / "crds" / name
    if cached.exists():
        return cached
    return _download("https://raw.githubusercontent.com/" + CRD_UPSTREAM[name], cached)
