"""A Git server over HTTP for the kind end-to-end run: Git's own `git http-backend` (smart
HTTP, protocol v2) behind Python's standard HTTP server, so Argo CD inside the cluster can
fetch the commit under test and the tests can push new commits to it.

Every repository under GIT_PROJECT_ROOT is served, read and write, without authentication:
it lives in a throwaway cluster and holds nothing secret. A push to a repository that does
not exist yet creates it (a bare repository).

    python gitserver.py --root /srv/git --port 8080
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_PATH = re.compile(r"^/([\w.-]+\.git)(/.*)?$")


def git() -> str:
    path = shutil.which("git")
    if path is None:
        raise SystemExit("git is not installed")
    return path


def ensure_repository(root: Path, name: str) -> None:
    repo = root / name
    if repo.exists():
        return
    subprocess.run([git(), "init", "--quiet", "--bare", "--initial-branch=main", str(repo)], check=True)
    subprocess.run([git(), "-C", str(repo), "config", "http.receivepack", "true"], check=True)


class Handler(BaseHTTPRequestHandler):
    root: Path

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        self._backend()

    def do_POST(self) -> None:  # noqa: N802
        self._backend()

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        match = REPO_PATH.match(path)
        if not match:
            self.send_error(404, "no such repository")
            return
        if path.endswith("/git-receive-pack") or "service=git-receive-pack" in query:
            ensure_repository(self.root, match.group(1))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else self._chunked()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - git's config lookups
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "e2e",
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run([git(), "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if proc.returncode:
            self.log_error("git http-backend exited %d: %s", proc.returncode, proc.stderr.decode()[-500:])

    def _chunked(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/srv/git"))
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    Handler.root = args.root
    server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)  # noqa: S104 - inside its pod
    print(f"serving {args.root} on :{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
