"""The page and its files. Asset URLs carry a content hash (/assets/<version>/...), so the
browser may keep them for a year while index.html, revalidated on every load, always
names the current version. There is no build step: the hash is taken when the app starts."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PREFIX = "/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# the platform's MIME table may lack these; module scripts need a JavaScript type
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("application/manifest+json", ".webmanifest")


def tree_version(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


class StaticFilesMissing(RuntimeError):
    pass


class Assets:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root
        self.version = tree_version(root)
        html = (root / "index.html").read_text(encoding="utf-8")
        self.index_html = html.replace(f'"{ASSET_PREFIX}', f'"{ASSET_PREFIX}{self.version}/').encode()
        self.index_etag = f'"{self.version}"'
        self.files = StaticFiles(directory=root)

    def readable(self) -> bool:
        return (self.root / "index.html").is_file() and any((self.root / "js").glob("*.js"))

    async def check(self) -> None:
        """/ready: the page can be served."""
        if not self.readable():
            raise StaticFilesMissing(str(self.root))

    def index(self, request: Request) -> Response:
        headers = {"cache-control": REVALIDATE, "etag": self.index_etag}
        if request.headers.get("if-none-match") == self.index_etag:
            return Response(status_code=304, headers=headers)
        return Response(self.index_html, media_type="text/html; charset=utf-8", headers=headers)

    async def asset(self, request: Request, version: str, path: str) -> Response:
        response = await self.files.get_response(path, request.scope)
        if response.status_code in (200, 304):
            # an older page (during a rolling update) still gets files, just not cached for long
            response.headers["cache-control"] = IMMUTABLE if version == self.version else REVALIDATE
        return response
