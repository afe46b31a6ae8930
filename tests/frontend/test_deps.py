"""The frontend's routes take the page's files through a dependency (agent_frontend.deps)."""

from __future__ import annotations

from pathlib import Path

import httpx

from agent_frontend import deps
from agent_frontend.app import create_app
from agent_frontend.assets import Assets
from agent_frontend.settings import FrontendSettings
from tests.support.serving import serve


def test_the_page_is_served_from_the_assets_a_dependency_override_names(tmp_path: Path) -> None:
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text('<title>Another page</title><script src="/assets/js/app.js"></script>')
    (root / "js" / "app.js").write_text("export {};\n")
    other = Assets(root)
    app = create_app(FrontendSettings(proxy_api=False))
    app.dependency_overrides[deps.get_assets] = lambda: other
    with serve(app) as url:
        page = httpx.get(url + "/")
        script = httpx.get(f"{url}/assets/{other.version}/js/app.js")
    assert "<title>Another page</title>" in page.text
    assert f"/assets/{other.version}/js/app.js" in page.text
    assert script.status_code == 200 and script.text == "export {};\n"
