"""The page on its own, its gateway down: what loads, what it says, how it holds up.
No database, no other service; the full flows are in test_flows.py."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import MOBILE, PageLog, assert_accessible, screenshot

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_security_headers_on_the_page(page: Page, lone_frontend: str) -> None:
    response = page.goto(lone_frontend)
    assert response is not None and response.ok
    headers = response.headers
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]


def test_gateway_down_shows_an_alert_and_the_form_still_works(
    page: Page, lone_frontend: str, page_log: PageLog
) -> None:
    page.goto(lone_frontend)
    alert = page.get_by_role("alert").filter(has_text="unavailable")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Retrying automatically")
    # every control is there and named as the design card says (DESIGN.md, outside this
    # repository), even with no server behind it
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_editable()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled()
    expect(page.get_by_role("textbox", name="Title", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Description", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Submit task", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Tasks", exact=True)).to_contain_text("could not be loaded")

    # sending while down: the message comes back to the box and the failure is shown
    page.get_by_role("textbox", name="Message", exact=True).fill("hello?")
    page.keyboard.press("Enter")
    expect(page.get_by_role("log")).to_contain_text("Not sent")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("hello?")
    screenshot(page, "page-gateway-down.png")
    assert_accessible(page)
    assert all("503" in m for m in page_log.console_errors), page_log.console_errors


def test_keyboard_reaches_every_control_with_a_visible_focus(page: Page, lone_frontend: str) -> None:
    page.goto(lone_frontend)
    expect(page.get_by_role("alert").filter(has_text="unavailable")).to_be_visible()
    wanted = ["Message", "Send", "Title", "Description", "Submit task"]
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        name = page.evaluate("""() => {
            const el = document.activeElement;
            return el.labels && el.labels.length ? el.labels[0].textContent.trim() : el.textContent.trim();
        }""")
        if name in wanted and name not in reached:
            reached.append(name)
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("none", ""), f"{name} has no visible focus"
    assert reached == wanted


def test_no_horizontal_scroll_at_375px(page: Page, lone_frontend: str) -> None:
    page.set_viewport_size(MOBILE)
    page.goto(lone_frontend)
    expect(page.get_by_role("button", name="Submit task")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)


def test_assets_are_versioned_and_cached(page: Page, lone_frontend: str) -> None:
    assets: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: assets.update({r.url: r.headers}) if "/assets/" in r.url else None)
    page.goto(lone_frontend)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    page.wait_for_load_state("networkidle")
    scripts = [u for u in assets if u.endswith(".js")]
    assert len(scripts) >= 5  # main.js and the modules it imports
    for url, headers in assets.items():
        assert re.search(r"/assets/[0-9a-f]{12}/", url)
        assert "immutable" in headers["cache-control"], url


def test_event_stream_parser_handles_any_split(page: Page, lone_frontend: str) -> None:
    """The page's SSE parser, run in the page: events split anywhere, CRLF, comments."""
    page.goto(lone_frontend)
    src = page.locator("script[type=module]").get_attribute("src")
    assert src
    stream = (
        'event: delta\r\ndata: {"text": "Hel"}\r\n\r\n: keep-alive\n\n'
        'event: delta\ndata: {"text": "lo"}\n\n'
        'event: done\ndata: {"chat_id": 7,\ndata: "usage": null}\n\n'
    )
    events = page.evaluate(
        """async ([src, stream]) => {
        const { SseParser } = await import(src.replace("main.js", "sse.js"));
        const all = [];
        for (let size = 1; size <= stream.length; size++) {
            const parser = new SseParser();
            const got = [];
            for (let i = 0; i < stream.length; i += size) got.push(...parser.push(stream.slice(i, i + size)));
            got.push(...parser.flush());
            all.push(JSON.stringify(got));
        }
        return [...new Set(all)].map((s) => JSON.parse(s));
    }""",
        [src, stream],
    )
    assert events == [
        [
            {"event": "delta", "data": '{"text": "Hel"}'},
            {"event": "delta", "data": '{"text": "lo"}'},
            {"event": "done", "data": '{"chat_id": 7,\n"usage": null}'},
        ]
    ]
