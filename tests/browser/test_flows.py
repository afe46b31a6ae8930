"""The page with the whole system behind it (PostgreSQL, Redis, every service, two workers),
driven as a person would: chat, tasks, cancel, reload, hostile text, keyboard, phone width.
Each test has a fresh browser context, so a fresh anonymous user."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import MOBILE, assert_accessible, open_context, screenshot
from tests.support.pageserver import PageServer

TASK_DONE_MS = 45_000
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
XSS_MESSAGE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> hello'
XSS_TITLE = '<img src=y onerror="window.__pwned=3"><b>bold?</b>'
PLAIN_TEXT = (
    "Redis streams are an append-only log. Consumer groups let several workers share one stream. "
    "Each message goes to one consumer, which acknowledges it when done. A message whose worker "
    "died is claimed again after a timeout. After too many deliveries it moves to a dead-letter "
    "stream. Trimming keeps the stream bounded, and its length is a useful autoscaling signal."
)


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message", exact=True)


def tasks_region(page: Page) -> Locator:
    return page.get_by_role("region", name="Tasks", exact=True)


def task_card(page: Page, title: str) -> Locator:
    heading = page.get_by_role("heading", name=title, exact=True)
    return tasks_region(page).locator("li.task").filter(has=heading)


def send_message(page: Page, text: str) -> Locator:
    """Type, press Enter, wait until the reply has finished streaming; the reply's bubble."""
    before = page.locator(".message-assistant").count()
    message_box(page).fill(text)
    message_box(page).press("Enter")
    reply = page.locator(".message-assistant").nth(before)
    expect(reply).to_be_visible()
    # done streaming (history may re-render the bubble afterwards, without the attribute)
    expect(page.locator('.message[aria-busy="true"]')).to_have_count(0, timeout=20_000)
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled()
    return reply


def submit_task(page: Page, title: str, description: str) -> Locator:
    page.get_by_role("textbox", name="Title", exact=True).fill(title)
    page.get_by_role("textbox", name="Description", exact=True).fill(description)
    page.get_by_role("button", name="Submit task", exact=True).click()
    card = task_card(page, title)
    expect(card).to_be_visible()
    return card


def status_of(card: Locator) -> Locator:
    return card.locator(".status")


def test_chat_round_trip_streams_the_offline_answer(page: Page, app_url: str) -> None:
    page.goto(app_url)
    expect(page.get_by_text("No messages yet")).to_be_visible()
    # watch the reply grow: each delta is appended to the text as it comes (the proxy's own
    # tests show the bytes pass event by event; the offline assistant sends its pieces at once)
    page.evaluate("""() => {
        window.__replyGrowth = [];
        new MutationObserver((records) => {
            for (const r of records) {
                if (r.type === 'characterData') window.__replyGrowth.push(r.oldValue.length);
            }
        }).observe(document.getElementById('messages'),
                   {subtree: true, characterData: true, characterDataOldValue: true});
    }""")
    reply = send_message(page, "hello")
    expect(page.locator(".message-user")).to_have_text(re.compile("hello"))
    expect(reply.locator(".message-text")).to_contain_text(re.compile("offline", re.I))
    # the model (and, with one, its tokens) under the answer; the offline assistant counts none
    expect(reply.locator(".message-usage")).to_have_text("offline")
    growth = page.evaluate("window.__replyGrowth")
    assert len(growth) >= 3 and growth == sorted(growth), f"the reply did not arrive in pieces: {growth}"
    expect(message_box(page)).to_have_value("")
    expect(message_box(page)).to_be_focused()


def test_task_on_a_fixture_page_completes_with_its_summary(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    expect(tasks_region(page)).to_contain_text("No tasks yet")
    card = submit_task(page, "Mozilla on Wikipedia", f"Summarize {pages.url('/pages/wikipedia.html')}")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    result = card.locator(".task-result")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Mozilla")
    assert len(result.inner_text()) > 100
    steps = card.get_by_role("list", name="Steps").get_by_role("listitem")
    expect(steps).to_have_count(3)
    for i in range(3):
        # the status a screen reader reads, and the time it took on screen
        expect(steps.nth(i).locator("summary")).to_have_accessible_name(re.compile(r", completed, \d"))
        expect(steps.nth(i)).to_contain_text(re.compile(r"\d+(\.\d)? m?s"))
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    send_message(page, "hello")
    screenshot(page, "page-desktop.png")
    assert_accessible(page)


def test_a_failed_task_shows_its_error(page: Page, app_url: str, pages: PageServer) -> None:
    page.goto(app_url)
    card = submit_task(page, "A missing page", f"Summarize {pages.url('/status/404')}")
    expect(status_of(card)).to_have_text("failed", timeout=TASK_DONE_MS)
    error = card.locator(".task-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("404")
    expect(card.locator(".task-result")).to_be_hidden()
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(card.locator(".step-failed")).to_have_count(1)


def test_asking_in_the_chat_starts_a_task_shown_under_tasks(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    expect(tasks_region(page)).to_contain_text("No tasks yet")
    reply = send_message(page, f"summarize {pages.url('/pages/wikipedia.html')}")
    expect(reply).to_contain_text("Tasks")
    card = tasks_region(page).locator("li.task")
    expect(card).to_have_count(1)
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    expect(card.locator(".task-result")).to_contain_text("Mozilla")


def test_cancel_stops_a_running_task(page: Page, app_url: str, pages: PageServer) -> None:
    page.goto(app_url)
    card = submit_task(page, "A slow page", f"Summarize {pages.url('/slow/wikipedia.html?delay=5')}")
    expect(status_of(card)).to_have_text(re.compile("queued|processing"))
    cancel = card.get_by_role("button", name="Cancel", exact=True)
    cancel.click()
    expect(status_of(card)).to_have_text("cancelled")
    expect(cancel).to_be_hidden()
    expect(card.locator(".task-result")).to_be_hidden()
    # after the slow fetch would have finished, the server still says cancelled: no step ran on
    page.wait_for_timeout(6_000)
    page.reload()
    card = task_card(page, "A slow page")
    expect(status_of(card)).to_have_text("cancelled")
    expect(card.locator(".task-result")).to_be_hidden()
    # the fetch under way may finish; the steps after it never run
    steps = card.get_by_role("list", name="Steps").get_by_role("listitem")
    expect(steps).to_have_count(3)
    for i in (1, 2):
        expect(steps.nth(i)).to_contain_text(re.compile("cancelled|skipped"))


def test_reload_keeps_history_and_tasks(page: Page, app_url: str) -> None:
    page.goto(app_url)
    reply = send_message(page, "hello there")
    reply_text = reply.locator(".message-text").inner_text()
    card = submit_task(page, "Plain text", PLAIN_TEXT)
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)

    page.reload()
    expect(page.locator(".message-user")).to_have_text([re.compile("hello there")])
    expect(page.locator(".message-assistant .message-text")).to_have_text([reply_text])
    expect(page.locator(".message-assistant .message-usage")).to_have_text(["offline"])
    card = task_card(page, "Plain text")
    expect(status_of(card)).to_have_text("completed")
    expect(card.locator(".task-result")).to_be_visible()


def test_markup_in_a_message_and_a_task_title_is_only_text(page: Page, app_url: str) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(app_url)
    send_message(page, XSS_MESSAGE)
    expect(page.locator(".message-user .message-text")).to_have_text(XSS_MESSAGE)
    card = submit_task(page, XSS_TITLE, PLAIN_TEXT + " <script>window.__pwned=4</script>")
    expect(card.get_by_role("heading")).to_have_text(XSS_TITLE)
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)

    page.reload()  # and again when it comes back from the server
    expect(page.locator(".message-user .message-text")).to_have_text([XSS_MESSAGE])
    expect(task_card(page, XSS_TITLE)).to_be_visible()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img, b, script:not([src])").count() == 0
    assert not [u for u in requested if re.search(r"/[xy]$", u)], "an <img> from user text was loaded"


def test_keyboard_only(page: Page, app_url: str) -> None:
    page.goto(app_url)
    expect(page.get_by_text("No messages yet")).to_be_visible()
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "message":
            break
    expect(message_box(page)).to_be_focused()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("second line")
    expect(message_box(page)).to_have_value("first line\nsecond line")
    page.keyboard.press("Enter")
    expect(page.locator(".message-assistant")).to_be_visible()
    expect(page.locator('.message[aria-busy="true"]')).to_have_count(0, timeout=20_000)
    expect(page.locator(".message-user")).to_contain_text("first line\nsecond line")

    page.keyboard.press("Tab")  # Send
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Title")).to_be_focused()
    page.keyboard.type("Typed task")
    page.keyboard.press("Tab")
    page.keyboard.type(PLAIN_TEXT)
    page.keyboard.press("Tab")  # the list of tools, closed
    expect(page.locator("#tools summary")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Submit task")).to_be_focused()
    page.keyboard.press("Enter")
    expect(status_of(task_card(page, "Typed task"))).to_have_text("completed", timeout=TASK_DONE_MS)


def test_phone_width_and_dark_mode(page: Page, app_url: str, pages: PageServer, browser, page_log) -> None:
    page.set_viewport_size(MOBILE)
    page.goto(app_url)
    long_url = pages.url("/pages/wikipedia.html?" + "x" * 200)
    send_message(page, f"what is at {long_url} ?")
    card = submit_task(page, "Phone", f"Summarize {pages.url('/pages/wikipedia.html')}")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    screenshot(page, "page-mobile.png")
    assert_accessible(page)

    dark = open_context(
        browser, page_log, color_scheme="dark", viewport=MOBILE, storage_state=page.context.storage_state()
    )
    try:
        dark_page = dark.new_page()
        dark_page.goto(app_url)
        expect(status_of(task_card(dark_page, "Phone"))).to_have_text("completed")
        assert dark_page.evaluate(NO_HORIZONTAL_SCROLL)
        screenshot(dark_page, "page-mobile-dark.png")
        assert_accessible(dark_page)
    finally:
        dark.close()
