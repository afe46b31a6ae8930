#!/usr/bin/env python3
"""The name and tag under which the workflows publish a service image: the one rule that
build-images.yaml applies and tests/ci checks the overlays against.

    image_ref.py --owner OWNER --service gateway --ref refs/tags/v1.2.3 --sha <commit>
    image=ghcr.io/owner/agent-system-gateway
    tag=1.2.3

(appended to $GITHUB_OUTPUT when it is set, else printed)

A release tag vX.Y.Z (release.yaml) publishes X.Y.Z; any other ref (a push to main, a manual
run of images.yaml) publishes sha-<first 12 hex digits of the commit>.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

REGISTRY = "ghcr.io"
RELEASE_TAG = re.compile(r"refs/tags/v(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)")
SHA_TAG = re.compile(r"sha-[0-9a-f]{12}")
VERSION_TAG = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?")


def image_name(owner: str, service: str) -> str:
    # registry paths are lower case; GitHub account names are not always
    return f"{REGISTRY}/{owner.lower()}/agent-system-{service}"


def image_tag(ref: str, sha: str) -> str:
    release = RELEASE_TAG.fullmatch(ref)
    if release:
        return release["version"]
    if ref.startswith("refs/tags/"):
        raise ValueError(f"{ref}: a release tag is v<major>.<minor>.<patch>, e.g. v0.1.0")
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ValueError(f"not a commit id: {sha!r}")
    return f"sha-{sha[:12]}"


def is_published_tag(tag: str) -> bool:
    """Whether some run of the workflows pushes this tag."""
    return bool(VERSION_TAG.fullmatch(tag) or SHA_TAG.fullmatch(tag))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--ref", required=True, help="the git ref built, e.g. refs/tags/v0.1.0")
    parser.add_argument("--sha", required=True, help="the commit built")
    args = parser.parse_args()
    try:
        tag = image_tag(args.ref, args.sha)
    except ValueError as exc:
        print(f"::error::{exc}")
        return 1
    lines = f"image={image_name(args.owner, args.service)}\ntag={tag}\n"
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write(lines)
    print(lines, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
