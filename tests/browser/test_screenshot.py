"""The screenshot README.md shows: the page with a chat exchange that started a task, and a
compare task finished with its plan drawn as a graph. `make screenshot` runs this test and
copies what it writes into services/frontend/screenshot.png."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_flows import TASK_DONE_MS, send_message, status_of, submit_task, task_card
from tests.support.pageserver import PageServer

README_SHOT = "readme-screenshot.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_readme_screenshot_shows_a_chat_exchange_and_a_finished_task_with_its_plan(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    article = pages.url("/pages/mozilla-1.html")
    reply = send_message(page, f"summarize {article}")
    expect(reply).to_contain_text(re.compile(r"task [0-9a-f-]{36}"))
    from_chat = task_card(page, f"Summarize {article.split('://', 1)[1]}")

    urls = [pages.url(f"/pages/{name}.html") for name in ("wikipedia", "mozilla-1")]
    card = submit_task(page, "Mozilla, two views", f"Summarize and compare {urls[0]} and {urls[1]}")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    expect(status_of(from_chat)).to_have_text("completed", timeout=TASK_DONE_MS)
    plan = card.get_by_role("group", name=re.compile(r"^Plan "))
    for n in (1, 2):
        branch = plan.get_by_role("list", name=f"Branch {n}", exact=True)
        expect(branch.get_by_role("listitem")).to_have_count(2)
    expect(plan.get_by_role("list", name="Step 3, after branches 1 and 2", exact=True)).to_be_visible()
    expect(card.locator(".task-result")).to_contain_text("Compared 2 texts")

    path = screenshot(page, README_SHOT)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
