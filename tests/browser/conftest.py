"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), a fresh context per
test (so a fresh anonymous user), and a watch on every page for CSP violations and
uncaught errors, which fail the test that caused them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent_common.devstack.processes import ServiceProcess, free_port
from agent_common.devstack.stack import Stack, installed
from tests.conftest import ARTIFACTS

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install -e '.[dev]' brings playwright"
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 375, "height": 740}

# recorded in the page before any of its own scripts run; CDP-injected, so CSP allows it
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_messages(self) -> list[str]:
        return [
            m
            for m in self.console_errors
            if "Content Security Policy" in m or "Trusted Type" in m or "TrustedHTML" in m
        ]


# Module scope, not session: Playwright's sync API leaves its event loop set as running in
# this thread, so nothing may call asyncio.run() while it is open (the stack's migrations,
# the async suites that run after these). Session-scoped fixtures such as `stack` are set up
# before module-scoped ones, so they start before the browser.
@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as pw:
        if Path(CHROMIUM).exists():
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        else:
            # elsewhere (a GitHub runner, say) Playwright's own build, if `playwright install
            # chromium` fetched it
            try:
                browser = pw.chromium.launch(args=CHROMIUM_ARGS)
            except playwright_api.Error as exc:
                pytest.skip(
                    f"no Chromium: {CHROMIUM} is missing (apt-get install -y chromium; "
                    f".ci/run does) and Playwright has none of its own: {exc.message[:200]}"
                )
        yield browser
        browser.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


def open_context(
    browser: playwright_api.Browser, log: PageLog, **options: object
) -> playwright_api.BrowserContext:
    context = browser.new_context(**{"viewport": DESKTOP, **options})
    context.set_default_timeout(10_000)
    context.add_init_script(WATCH_CSP)

    def watch(page: playwright_api.Page) -> None:
        page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: log.page_errors.append(str(e)))

    context.on("page", watch)
    return context


@pytest.fixture
def context(browser: playwright_api.Browser, page_log: PageLog) -> Iterator[playwright_api.BrowserContext]:
    context = open_context(browser, page_log)
    yield context
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test, so that `page` can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(
    request: pytest.FixtureRequest, context: playwright_api.BrowserContext, page_log: PageLog
) -> Iterator[playwright_api.Page]:
    page = context.new_page()
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed and not page.is_closed():
        # what the page looked like when the test gave up, for CI's artifacts
        screenshot(page, f"failed-{request.node.name}.png")
        (ARTIFACTS / f"failed-{request.node.name}.log").write_text(
            "console errors:\n"
            + "\n".join(page_log.console_errors)
            + "\npage errors:\n"
            + "\n".join(page_log.page_errors)
        )
    violations = [] if page.is_closed() else page.evaluate("window.__cspViolations || []")
    assert not violations, f"CSP violations: {violations}"
    assert not page_log.csp_messages(), f"CSP messages in the console: {page_log.csp_messages()}"
    assert not page_log.page_errors, f"uncaught errors in the page: {page_log.page_errors}"


@pytest.fixture(scope="session")
def app_url(stack: Stack) -> str:
    """The page served by the frontend of the whole running system."""
    missing = [m for m in ("agent_gateway", "agent_chat", "agent_frontend") if not installed(m)]
    if missing:
        pytest.skip(f"the browser flows need every service; not installed: {', '.join(missing)}")
    return stack.url("frontend")


@pytest.fixture(scope="session")
def lone_frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The frontend alone, its gateway address closed: the page must say the server is down."""
    port = free_port()
    proc = ServiceProcess(
        "frontend-alone",
        "agent_frontend",
        {"PORT": str(port), "HOST": "127.0.0.1", "API_GATEWAY_URL": f"http://127.0.0.1:{free_port()}"},
        ready_url=f"http://127.0.0.1:{port}/ready",
        log_dir=tmp_path_factory.mktemp("frontend-alone"),
    ).start()
    try:
        proc.wait_ready()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop(timeout=10)


def assert_accessible(page: playwright_api.Page) -> None:
    """axe-core's WCAG 2.x A and AA rules: no violation, contrast included."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "runOnly": {
                "type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
            }
        },
    )
    assert results.violations_count == 0, results.generate_report()


def screenshot(page: playwright_api.Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
