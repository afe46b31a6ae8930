"""The page and its files: security headers, cache headers, /health and /ready."""

from __future__ import annotations

import http.client
import re
import shutil
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from agent_frontend.app import create_app
from agent_frontend.assets import STATIC_DIR, Assets
from agent_frontend.settings import FrontendSettings


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)


def test_page_has_strict_security_headers(frontend: str) -> None:
    for path in ("/", "/health", "/no-such-page"):
        headers = httpx.get(frontend + path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in headers["permissions-policy"]


def test_page_has_no_inline_script_or_style() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and "style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_index_revalidates_and_assets_are_immutable(frontend: str) -> None:
    page = httpx.get(frontend + "/")
    assert page.headers["cache-control"] == "no-cache"
    assert httpx.get(frontend + "/", headers={"if-none-match": page.headers["etag"]}).status_code == 304
    urls = asset_urls(page.text)
    assert any(u.endswith("/js/main.js") for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        response = httpx.get(frontend + url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    script = httpx.get(frontend + next(u for u in urls if u.endswith(".js")))
    assert script.headers["content-type"].startswith("text/javascript")


def test_an_old_asset_version_is_served_but_not_kept(frontend: str) -> None:
    response = httpx.get(frontend + "/assets/000000000000/js/main.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


def raw_get(base: str, raw_path: str) -> httpx.Response:
    """A GET of a path exactly as written (httpx would resolve the dot segments itself)."""
    url = httpx.URL(base)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=5)
    try:
        connection.request("GET", raw_path)
        answer = connection.getresponse()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
    finally:
        connection.close()


def test_no_file_outside_the_static_folder(frontend: str) -> None:
    for path in (
        "/assets/v/../app.py",
        "/assets/v/%2e%2e/app.py",
        "/assets/v/..%2fapp.py",
        "/assets/v/../../settings.py",
    ):
        response = raw_get(frontend, path)
        assert response.status_code == 404, path
        assert "create_app" not in response.text


def test_health_ready_metrics(frontend: str) -> None:
    assert httpx.get(frontend + "/health").json() == {"status": "ok"}
    assert httpx.get(frontend + "/ready").status_code == 200
    assert b"http_requests_total" in httpx.get(frontend + "/metrics").content


def test_not_ready_when_the_files_are_gone(tmp_path: Path) -> None:
    root = tmp_path / "static"
    shutil.copytree(STATIC_DIR, root)
    app = create_app(FrontendSettings(proxy_api=False), Assets(root))
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        (root / "index.html").unlink()
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["static"].startswith("down")
