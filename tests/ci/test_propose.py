"""propose.py, the step that turns a change to main into a pull request (images.yaml's dev bump,
promote.yaml, lock-sync.yaml), run as the workflows run it: against a git remote (a local bare
repository) and a stand-in for GitHub's REST API that answers as GitHub does, including its
refusal of pull requests opened with the workflow's GITHUB_TOKEN."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.ci.support import GIT_ENV, REPO, SCRIPTS, git, run

APP, PAT, WORKFLOW = "ghs_app_installation_token", "github_pat_fine_grained", "ghs_workflow_token"
REFUSED = "GitHub Actions is not permitted to create or approve pull requests."
DIGEST = "sha256:" + "cd" * 32


class GitHubAPI(ThreadingHTTPServer):
    """The pull request endpoints of api.github.com for one repository, me/agent-system."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.pulls: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str]] = []  # method, path, token
        self.may_open = {APP, PAT}  # as GitHub's default: not the workflow token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: GitHubAPI

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").removeprefix("token ")
        self.server.calls.append((self.command, self.path, token))
        if token not in (APP, PAT, WORKFLOW) or self.headers.get("Accept") != "application/vnd.github+json":
            self.reply(
                401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            )
            return None
        return token

    def body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        if self.token() is None:
            return
        url = urlsplit(self.path)
        assert url.path == "/repos/me/agent-system/pulls", url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        head = query["head"].split(":", 1)[1]
        self.reply(
            200,
            [
                p
                for p in self.server.pulls
                if p["head"]["ref"] == head
                and p["state"] == "open"
                and p["base"]["ref"] == query.get("base", p["base"]["ref"])
            ],
        )

    def do_POST(self) -> None:  # noqa: N802
        token = self.token()
        if token is None:
            return
        assert self.path == "/repos/me/agent-system/pulls", self.path
        body = self.body()
        if token not in self.server.may_open:
            self.reply(
                403,
                {
                    "message": REFUSED,
                    "status": "403",
                    "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                },
            )
            return
        if not body.get("title") or not body.get("head") or not body.get("base"):
            self.reply(422, {"message": "Validation Failed", "status": "422"})
            return
        number = len(self.server.pulls) + 1
        pull = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body", ""),
            "head": {"ref": body["head"]},
            "base": {"ref": body["base"]},
            "html_url": f"https://github.com/me/agent-system/pull/{number}",
        }
        self.server.pulls.append(pull)
        self.reply(201, pull)

    def do_PATCH(self) -> None:  # noqa: N802
        if self.token() is None:
            return
        number = int(self.path.rsplit("/", 1)[1])
        pull = self.server.pulls[number - 1]
        pull.update({k: v for k, v in self.body().items() if k in ("title", "body")})
        self.reply(200, pull)


@pytest.fixture()
def github() -> Iterator[GitHubAPI]:
    server = GitHubAPI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout of main (with overlays/) whose origin is a local bare repository."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "--bare", "--initial-branch=main", str(remote))
    shutil.copytree(REPO / "overlays", work / "overlays")
    git(work, "init", "--initial-branch=main")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "add", "-A")
    git(work, "commit", "-qm", "main")
    git(work, "push", "-q", "origin", "main")
    return work, remote


def bump_dev(work: Path, tag: str = "sha-0123456789ab") -> None:
    spec = f"agent-system-gateway=ghcr.io/me/agent-system-gateway:{tag}@{DIGEST}"
    proc = run(["python3", str(SCRIPTS / "overlay_images.py"), "set", "overlays/dev", spec], cwd=work)
    assert proc.returncode == 0, proc.stderr


def propose(work: Path, github: GitHubAPI, tokens: dict[str, str], *extra: str) -> tuple[int, str, str]:
    summary = work.parent / "summary.md"
    env = {k: v for k, v in os.environ.items() if k not in ("APP_TOKEN", "BOT_TOKEN", "GITHUB_TOKEN")}
    env.update(
        GIT_ENV,
        HOME=str(work.parent),
        GITHUB_REPOSITORY="me/agent-system",
        GITHUB_API_URL=github.url,
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_RUN_ID="42",
        **tokens,
    )
    args = extra or (
        "--branch",
        "bot/dev-images",
        "--title",
        "dev: images from 0123456789ab",
        "overlays/dev/kustomization.yaml",
    )
    proc = run(["python3", str(SCRIPTS / "propose.py"), *args], cwd=work, env=env)
    return proc.returncode, proc.stdout + proc.stderr, summary.read_text() if summary.exists() else ""


def test_an_app_token_opens_a_pull_request_and_main_is_untouched(
    checkout: tuple[Path, Path], github: GitHubAPI
) -> None:
    work, remote = checkout
    main = git(remote, "rev-parse", "main")
    bump_dev(work)
    code, out, summary = propose(work, github, {"APP_TOKEN": APP, "BOT_TOKEN": PAT, "GITHUB_TOKEN": WORKFLOW})
    assert code == 0, out
    assert git(remote, "rev-parse", "main") == main, "nothing is pushed to main"
    assert "sha-0123456789ab" in git(remote, "show", "bot/dev-images:overlays/dev/kustomization.yaml")
    (pull,) = github.pulls
    assert pull["head"]["ref"] == "bot/dev-images" and pull["base"]["ref"] == "main"
    assert "actions/runs/42" in pull["body"]
    assert {token for _, _, token in github.calls} == {APP}, "the App token comes first"
    assert "::notice::opened pull request #1" in out and "::warning::" not in out
    assert "Pull request #1 opened" in summary


def test_the_open_pull_request_is_updated_not_duplicated(
    checkout: tuple[Path, Path], github: GitHubAPI
) -> None:
    work, remote = checkout
    bump_dev(work)
    assert propose(work, github, {"BOT_TOKEN": PAT, "GITHUB_TOKEN": WORKFLOW})[0] == 0
    git(work, "checkout", "-q", "main")
    bump_dev(work, "sha-ba9876543210")
    tokens = {"BOT_TOKEN": PAT, "GITHUB_TOKEN": WORKFLOW}
    code, out, _ = propose(
        work,
        github,
        tokens,
        "--branch",
        "bot/dev-images",
        "--title",
        "dev: images from ba9876543210",
        "overlays/dev/kustomization.yaml",
    )
    assert code == 0, out
    (pull,) = github.pulls
    assert pull["title"] == "dev: images from ba9876543210" and "updated pull request #1" in out
    assert "sha-ba9876543210" in git(remote, "show", "bot/dev-images:overlays/dev/kustomization.yaml")
    assert [c[0] for c in github.calls] == ["GET", "POST", "GET", "PATCH"]


def test_without_an_app_or_pat_it_pushes_the_branch_and_explains(
    checkout: tuple[Path, Path], github: GitHubAPI
) -> None:
    work, remote = checkout
    main = git(remote, "rev-parse", "main")
    bump_dev(work)
    code, out, summary = propose(work, github, {"GITHUB_TOKEN": WORKFLOW})
    assert code == 1
    assert f"::error::GitHub refused the pull request (403: {REFUSED})" in out
    assert "https://github.com/me/agent-system/compare/main...bot/dev-images?expand=1" in out
    assert git(remote, "rev-parse", "main") == main and git(remote, "rev-parse", "bot/dev-images")
    assert not github.pulls
    for step in (
        "RELEASE_APP_CLIENT_ID",
        "RELEASE_APP_PRIVATE_KEY",
        "BOT_TOKEN",
        "Allow GitHub Actions to create and approve pull requests",
    ):
        assert step in summary


def test_a_pull_request_from_the_workflow_token_warns_that_no_ci_runs(
    checkout: tuple[Path, Path], github: GitHubAPI
) -> None:
    work, _ = checkout
    github.may_open.add(WORKFLOW)  # the repository setting is ticked
    bump_dev(work)
    code, out, summary = propose(work, github, {"GITHUB_TOKEN": WORKFLOW})
    assert code == 0 and len(github.pulls) == 1
    assert "::warning::pull request #1 was opened with the workflow's GITHUB_TOKEN" in out
    assert "RELEASE_APP_CLIENT_ID" in summary


def test_nothing_changed_nothing_proposed(checkout: tuple[Path, Path], github: GitHubAPI) -> None:
    work, remote = checkout
    code, out, summary = propose(work, github, {"APP_TOKEN": APP})
    assert code == 0 and "already up to date" in out and "Nothing to propose" in summary
    assert not github.calls and not git(remote, "branch", "--list", "bot/dev-images")


def test_push_only_onto_an_open_pull_requests_branch(checkout: tuple[Path, Path], github: GitHubAPI) -> None:
    """lock-sync.yaml: regenerated files pushed onto a Renovate branch, no pull request call."""
    work, remote = checkout
    git(work, "checkout", "-q", "-b", "renovate/lock-file-maintenance")
    git(work, "push", "-q", "origin", "renovate/lock-file-maintenance")
    (work / "overlays" / "dev" / "namespace.yaml").write_text("# regenerated\n")
    code, out, summary = propose(
        work,
        github,
        {"GITHUB_TOKEN": WORKFLOW},
        "--no-pull-request",
        "--branch",
        "renovate/lock-file-maintenance",
        "--title",
        "make lock",
        "overlays",
    )
    assert code == 0, out
    pushed = git(remote, "show", "renovate/lock-file-maintenance:overlays/dev/namespace.yaml")
    assert pushed == "# regenerated"
    assert not github.calls
    assert "::warning::pushed with the workflow's GITHUB_TOKEN" in out and "BOT_TOKEN" in summary
