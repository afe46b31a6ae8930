#!/usr/bin/env python3
"""Propose a change to main as a pull request, the one way that works under GitHub's
defaults (branch protection refuses direct pushes to main).

    propose.py --branch bot/dev-images --title "dev: images from abc" --body "..." \\
        --message "dev: images from abc" overlays/dev/kustomization.yaml

Commits the given paths on --branch (reset to the current HEAD, force-pushed, so one pull
request per branch is kept up to date), then opens the pull request, or updates the one that
is open. The token is the first that is set of:

    APP_TOKEN     a GitHub App installation token (actions/create-github-app-token)
    BOT_TOKEN     a personal access token saved as the secret BOT_TOKEN
    GITHUB_TOKEN  the workflow's own token: it can push the branch, but GitHub refuses its pull
                  requests unless a repository setting allows them, and runs no workflow (no CI)
                  on the ones it opens

Without an App or a PAT it goes as far as the workflow's token allows, then says what is
missing (::error:: or ::warning::, and the exact steps in the job summary). Exit status: 0
when the pull request is open (or nothing changed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
API_VERSION = "2022-11-28"

SETUP_STEPS = """\
### Give the workflows a token that can open pull requests

Without one, GitHub refuses pull requests from the workflow's own token (or, when the repository
allows them, runs no CI on them). Either:

1. **A GitHub App** (recommended): Settings > Developer settings > GitHub Apps > New GitHub App;
   no webhook; repository permissions *Contents: Read and write* and *Pull requests: Read and
   write*. Generate a private key, install the App on this repository, then in this repository's
   Settings > Secrets and variables > Actions add the **variable** `RELEASE_APP_CLIENT_ID` (the
   App's Client ID) and the **secret** `RELEASE_APP_PRIVATE_KEY` (the whole `.pem` file).
2. **A personal access token**: a fine-grained token for this repository with *Contents* and
   *Pull requests* read and write, saved as the **secret** `BOT_TOKEN`.
3. **Only the workflow token**: Settings > Actions > General > Workflow permissions > tick
   *Allow GitHub Actions to create and approve pull requests*. Pull requests then open, but no
   workflow runs on them until someone pushes to them.

Then run this workflow again (Actions > this workflow > Re-run jobs).
"""


@dataclass
class Token:
    kind: str  # app, pat, github
    value: str

    @property
    def label(self) -> str:
        return {
            "app": "the GitHub App token",
            "pat": "the BOT_TOKEN secret",
            "github": "the workflow's GITHUB_TOKEN",
        }[self.kind]


class Summary:
    """Markdown for $GITHUB_STEP_SUMMARY (printed when it is not set)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text.rstrip() + "\n")

    def write(self) -> None:
        text = "\n".join(self.parts)
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a") as out:
                out.write(text + "\n")
        else:
            print(text)


def choose_token() -> Token:
    for kind, name in (("app", "APP_TOKEN"), ("pat", "BOT_TOKEN"), ("github", "GITHUB_TOKEN")):
        if os.environ.get(name):
            return Token(kind, os.environ[name])
    raise SystemExit("::error::no token: set APP_TOKEN, BOT_TOKEN or GITHUB_TOKEN")


def git(*args: str, token: Token | None = None) -> subprocess.CompletedProcess[str]:
    auth: list[str] = []
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token.value}".encode()).decode()
        auth = ["-c", f"http.extraheader=AUTHORIZATION: basic {basic}"]
    return subprocess.run(["git", *auth, *args], capture_output=True, text=True)


def api(token: Token, method: str, path: str, body: dict | None = None) -> tuple[int, dict | list]:
    url = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/") + path
    if not url.startswith(("https://", "http://")):
        raise SystemExit(f"::error::GITHUB_API_URL is not an http(s) URL: {url}")
    data = json.dumps(body).encode() if body else None
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - checked above
    request.add_header("Authorization", f"Bearer {token.value}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", API_VERSION)
    request.add_header("User-Agent", "agent-system-propose")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the API URL
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except json.JSONDecodeError:
            return err.code, {"message": err.reason}


def commit(paths: list[str], branch: str, message: str) -> bool:
    """Commit `paths` on `branch` (from HEAD). False when they hold no change."""
    if not git("status", "--porcelain", "--", *paths).stdout.strip():
        return False
    for args in (
        ("checkout", "-B", branch),
        ("add", "--", *paths),
        ("-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}", "commit", "-m", message),
    ):
        proc = git(*args)
        if proc.returncode != 0:
            raise SystemExit(f"::error::git {' '.join(args)} failed: {proc.stderr.strip()}")
    return True


def open_or_update(
    token: Token, repo: str, branch: str, base: str, title: str, body: str
) -> tuple[int, dict | list]:
    owner = repo.split("/")[0]
    query = urllib.parse.urlencode({"head": f"{owner}:{branch}", "base": base, "state": "open"})
    status, found = api(token, "GET", f"/repos/{repo}/pulls?{query}")
    if status == 200 and isinstance(found, list) and found:
        number = found[0]["number"]
        return api(token, "PATCH", f"/repos/{repo}/pulls/{number}", {"title": title, "body": body})
    return api(
        token,
        "POST",
        f"/repos/{repo}/pulls",
        {"title": title, "body": body, "head": branch, "base": base, "maintainer_can_modify": True},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branch", required=True)
    parser.add_argument("--base", default="main")
    parser.add_argument("--title", required=True)
    parser.add_argument("--body", default="")
    parser.add_argument("--message", help="commit message (default: the title)")
    parser.add_argument(
        "--no-pull-request",
        action="store_true",
        help="push onto --branch (an open pull request's own branch) and stop there",
    )
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    repo = os.environ["GITHUB_REPOSITORY"]
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    summary = Summary()
    token = choose_token()
    print(f"::notice::proposing with {token.label}")

    if not commit(args.paths, args.branch, args.message or args.title):
        print(f"::notice::{', '.join(args.paths)}: already up to date, nothing to propose")
        summary.add(f"Nothing to propose: {', '.join(args.paths)} already up to date.")
        summary.write()
        return 0

    force = [] if args.no_pull_request else ["--force"]
    push = git("push", *force, "origin", f"HEAD:refs/heads/{args.branch}", token=token)
    if push.returncode != 0:
        print(f"::error::could not push {args.branch} with {token.label}: {push.stderr.strip()}")
        summary.add(f"## Could not push `{args.branch}`\n\n```\n{push.stderr.strip()}\n```\n\n{SETUP_STEPS}")
        summary.write()
        return 1

    body = args.body
    if os.environ.get("GITHUB_RUN_ID"):
        body += f"\n\nProposed by {server}/{repo}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    if args.no_pull_request:
        print(f"::notice::pushed {args.title!r} onto {args.branch}")
        summary.add(f"## Pushed onto `{args.branch}`\n\n{args.title}")
        if token.kind == "github":
            print(
                f"::warning::pushed with the workflow's GITHUB_TOKEN: GitHub starts no workflow for "
                f"this push, so the checks of {args.branch} still show the previous commit. Re-run them "
                "by hand, or set up a GitHub App or BOT_TOKEN (see the job summary)."
            )
            summary.add(SETUP_STEPS)
        summary.write()
        return 0

    status, pull = open_or_update(token, repo, args.branch, args.base, args.title, body.strip())
    if status in (200, 201) and isinstance(pull, dict):
        verb = "opened" if status == 201 else "updated"
        print(f"::notice::{verb} pull request #{pull['number']}: {pull.get('html_url', '')}")
        summary.add(f"## Pull request #{pull['number']} {verb}\n\n{pull.get('html_url', '')}")
        if token.kind == "github":
            print(
                f"::warning::pull request #{pull['number']} was opened with the workflow's GITHUB_TOKEN: "
                "GitHub runs no workflow on it, so CI will not check it until someone pushes to it. "
                "Set up a GitHub App or BOT_TOKEN (see the job summary)."
            )
            summary.add(SETUP_STEPS)
        summary.write()
        return 0

    message = pull.get("message", "") if isinstance(pull, dict) else str(pull)
    compare = f"{server}/{repo}/compare/{args.base}...{args.branch}?expand=1"
    print(
        f"::error::GitHub refused the pull request ({status}: {message}) with {token.label}. "
        f"The branch {args.branch} is pushed: open the pull request by hand at {compare}, "
        "and see the job summary for the token setup."
    )
    summary.add(
        f"## The branch is pushed, the pull request is not open\n\nGitHub answered {status}: "
        f"{message}\n\nOpen it by hand: [{args.branch} into {args.base}]({compare})\n"
    )
    summary.add(SETUP_STEPS)
    summary.write()
    return 1


if __name__ == "__main__":
    sys.exit(main())
