#!/usr/bin/env python3
"""Step 0 in a fork (`make fork`): point the repository at your GitHub account, in one go.

1. Finds the account and repository the files name today (apps/root.yaml's repoURL and the
   overlays' image names; upstream they say OWNER) and yours (--owner/--repo, else the
   `origin` remote's GitHub URL).
2. Rewrites every tracked file that names the old ones: github.com/<old>/<repo> links and
   repoURLs become yours, ghcr.io/<old>/agent-system-* images become ghcr.io/<you>/...
3. Commits that (when anything changed) and pushes the branch.
4. Tags the release the overlays name (their X.Y.Z image tag) as vX.Y.Z and pushes the tag:
   .github/workflows/release.yaml then builds and publishes the images the overlays pull.

Running it again changes nothing, makes no commit and leaves an existing tag alone.
Only the standard library and git: it runs before `make install`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# GitHub account names: letters, digits and single hyphens, at most 39 characters
ACCOUNT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
REPO_URL = re.compile(
    r"repoURL:\s*https://github\.com/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+?)(?:\.git)?\s*$", re.M
)
IMAGE_OWNER = re.compile(r"newName:\s*ghcr\.io/(?P<owner>[^/\s]+)/agent-system-")
ORIGIN = re.compile(r"github\.com[:/](?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$")
VERSION = re.compile(r"newTag:\s*(?P<version>\d+\.\d+\.\d+)\s*$", re.M)


class Failure(Exception):
    """A clear reason to stop, shown to the user without a traceback."""


def git(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise Failure(f"git {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout.strip()


def current_names() -> tuple[str, str, str]:
    """(repository owner, repository name, image owner) as the files name them today."""
    root = (REPO / "apps" / "root.yaml").read_text()
    match = REPO_URL.search(root)
    if not match:
        raise Failure("apps/root.yaml names no https://github.com/<owner>/<repo> repoURL")
    owners = {
        m["owner"]
        for p in sorted(REPO.glob("overlays/*/kustomization.yaml"))
        for m in IMAGE_OWNER.finditer(p.read_text())
    }
    if len(owners) != 1:
        names = ", ".join(sorted(owners))
        raise Failure(f"the overlays name {len(owners)} image owners ({names}), expected one")
    return match["owner"], match["repo"], owners.pop()


def yours(owner: str | None, repo: str | None) -> tuple[str, str]:
    if owner is None or repo is None:
        # as configured (get-url would expand insteadOf rewrites)
        url = git("config", "--get", "remote.origin.url", check=False)
        match = ORIGIN.search(url)
        if owner is None:
            if not match:
                raise Failure(
                    f"origin ({url or 'none'}) is not a GitHub repository: give --owner (OWNER=you)"
                )
            owner = match["owner"]
        repo = repo or (match["repo"] if match else None) or "agent-system"
    if not ACCOUNT.fullmatch(owner):
        raise Failure(f"{owner!r} is not a GitHub account name")
    if not REPO_NAME.fullmatch(repo):
        raise Failure(f"{repo!r} is not a GitHub repository name")
    return owner, repo


def replacements(old: tuple[str, str, str], new_owner: str, new_repo: str) -> list[tuple[str, str]]:
    old_owner, old_repo, old_images = old
    return [
        (f"github.com/{old_owner}/{old_repo}", f"github.com/{new_owner}/{new_repo}"),
        # registry paths are lower case
        (f"ghcr.io/{old_images}/agent-system-", f"ghcr.io/{new_owner.lower()}/agent-system-"),
    ]


def rewrite(pairs: list[tuple[str, str]]) -> list[str]:
    """Apply the replacements to every tracked text file; the paths changed."""
    changed = []
    for name in git("ls-files", "-z").split("\0"):
        path = REPO / name
        if not name or not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        new = text
        for before, after in pairs:
            new = new.replace(before, after)
        if new != text:
            path.write_text(new)
            changed.append(name)
    return changed


def release_version() -> str | None:
    """The X.Y.Z image tag the overlays name (the dev overlay may name a sha- build instead)."""
    versions = {
        m["version"]
        for p in REPO.glob("overlays/*/kustomization.yaml")
        for m in VERSION.finditer(p.read_text())
    }
    if len(versions) > 1:
        raise Failure(f"the overlays name several releases ({', '.join(sorted(versions))}): tag one by hand")
    return versions.pop() if versions else None


def push_tag(tag: str) -> str:
    if git("ls-remote", "--tags", "origin", f"refs/tags/{tag}"):
        return (
            f"{tag} is already on origin: its release ran or runs (Actions > release; "
            "Run workflow with the tag to build its images again)"
        )
    if not git("tag", "--list", tag):
        git("tag", "-a", tag, "-m", f"Release {tag}: the images the overlays name")
    git("push", "origin", f"refs/tags/{tag}")
    return f"pushed {tag}: Actions > release now builds and publishes the images it names"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", help="your GitHub account (default: from the origin remote)")
    parser.add_argument("--repo", help="your repository's name (default: from origin, else agent-system)")
    parser.add_argument("--no-push", action="store_true", help="commit and tag, push nothing")
    args = parser.parse_args()
    try:
        if git("status", "--porcelain", "--untracked-files=no"):
            raise Failure("commit or stash your changes first: this commits on its own")
        old = current_names()
        owner, repo = yours(args.owner, args.repo)
        changed = rewrite(replacements(old, owner, repo))
        if changed:
            git("add", "--", *changed)
            git("commit", "-m", f"Make it yours: {owner}/{repo} in place of {old[0]}/{old[1]}")
            print(f"rewrote {len(changed)} files: {', '.join(changed)}")
        else:
            print(f"every file already names {owner}/{repo}")
        version = release_version()
        if args.no_push:
            print("not pushing (--no-push)")
            return 0
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
        git("push", "origin", f"HEAD:refs/heads/{branch}")
        print(f"pushed {branch}" + ("" if branch == "main" else " (Argo CD follows main)"))
        if version:
            print(push_tag(f"v{version}"))
        else:
            print("the overlays name no X.Y.Z release: no tag pushed")
    except Failure as exc:
        print(f"make fork: {exc}", file=sys.stderr)
        return 1
    print(
        f"next: make the packages ghcr.io/{owner.lower()}/agent-system-* public once they exist "
        "(or give the cluster a pull secret), then bootstrap (README, step 2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
