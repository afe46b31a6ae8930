"""Plans on the page, with the whole system behind it: a compare task's branches side by side
with their join below, each step's status and timing; an answer with its citations as links
to the quoted sentence; the tools under the task form; all by keyboard and with the names a
screen reader reads."""

from __future__ import annotations

import re
from urllib.parse import unquote

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import assert_accessible, screenshot
from tests.browser.test_flows import TASK_DONE_MS, status_of, submit_task
from tests.support.pageserver import PageServer

TIMING = re.compile(r"\d+(\.\d)? (ms|s)$")


def plan_of(card: Locator) -> Locator:
    return card.get_by_role("group", name=re.compile(r"^Plan "))


def test_a_compare_task_shows_its_branches_side_by_side_and_the_join_below(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    names = ("ars-1", "bbc-1", "cnn")
    urls = [pages.url(f"/pages/{name}.html") for name in names]
    card = submit_task(page, "Three pages", f"Summarize and compare {urls[0]}, {urls[1]} and {urls[2]}")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    plan = plan_of(card)
    expect(plan).to_contain_text("Planned by the rules")

    branches = [plan.get_by_role("list", name=f"Branch {n}", exact=True) for n in (1, 2, 3)]
    for n, branch in enumerate(branches):
        steps = branch.get_by_role("listitem")
        expect(steps).to_have_count(2)
        # what a screen reader reads for each step: its name, what it works on, status, time
        fetch = branch.locator("summary").first
        expect(fetch).to_have_accessible_name(
            re.compile(rf"^Fetch page 127\.0\.0\.1:\d+/pages/{names[n]}\.html, completed \(optional\), ")
        )
        for i in range(2):
            expect(steps.nth(i).locator("summary")).to_have_accessible_name(TIMING)
    join = plan.get_by_role("list", name="Step 4, after branches 1, 2 and 3", exact=True)
    expect(join.get_by_role("listitem")).to_have_count(1)
    expect(join.locator("summary")).to_have_accessible_name(re.compile(r"^Compare, completed, .*(ms|s)$"))

    # side by side: the branches share a row, left to right; the join is below all of them
    boxes = [b.bounding_box() for b in branches]
    below = join.bounding_box()
    assert boxes[0] and boxes[1] and boxes[2] and below
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and abs(boxes[1]["y"] - boxes[2]["y"]) < 2
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert below["y"] >= max(b["y"] + b["height"] for b in boxes)

    # the join's details, by keyboard: what it read and when it ran
    summary = join.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    details = join.locator(".step-details")
    expect(details).to_be_visible()
    expect(details).to_contain_text("Reads branches 1, 2 and 3.")
    expect(details).to_contain_text(re.compile(r"Started \d\d:\d\d:\d\d( [AP]M)?, finished \d\d:\d\d:\d\d"))
    expect(card.locator(".task-result")).to_contain_text("Compared 3 texts")
    # the next poll must not close what the person opened
    page.wait_for_timeout(1500)
    expect(details).to_be_visible()
    screenshot(page, "page-plan-compare.png")
    assert_accessible(page)


def test_an_answer_shows_its_citations_as_links_to_the_quoted_sentence(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    url = pages.url("/pages/engadget.html")
    card = submit_task(page, "Console weight", f"What does {url} say about how much the Xbox One X weighs?")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    answer = card.get_by_role("group", name=re.compile("^Answer "))
    expect(answer).to_contain_text("8.4 pounds")
    links = answer.get_by_role("list", name="Sources").get_by_role("link")
    expect(links.first).to_have_accessible_name("Xbox One X review: A console that keeps up with gaming PCs")
    href = links.first.get_attribute("href") or ""
    assert href.startswith(url + "#:~:text=")
    quoted = answer.locator("blockquote").first.inner_text()
    assert unquote(href.split(":~:text=")[1].split(",")[0]) in quoted
    expect(card.locator(".task-result")).to_be_hidden()  # the answer is not shown twice
    plan = plan_of(card)
    expect(plan.get_by_role("list", name="Steps", exact=True).get_by_role("listitem")).to_have_count(3)

    # keyboard: Tab from the answer step's summary reaches the first source link
    plan.locator("summary").last.focus()
    page.keyboard.press("Tab")
    expect(links.first).to_be_focused()
    screenshot(page, "page-answer.png")
    assert_accessible(page)


def test_the_task_form_lists_the_tools(page: Page, app_url: str) -> None:
    page.goto(app_url)
    tools = page.locator("#tools")
    summary = tools.locator("summary")
    expect(summary).to_have_text(re.compile(r"^What the agent can use \([1-9]\d* tools\)$"))
    page.get_by_role("textbox", name="Description", exact=True).focus()
    page.keyboard.press("Tab")
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    listing = tools.locator("dl")
    expect(listing).to_be_visible()
    for name in ("fetch_url", "extract_text", "summarize", "answer", "compare"):
        expect(listing.locator("code", has_text=re.compile(f"^{name}$"))).to_have_count(1)
    expect(listing).to_contain_text("Answer a question from the texts it depends on")
    expect(listing.locator("code", has_text="echo")).to_have_count(0)  # internal tools stay out
    assert_accessible(page)


def test_a_failed_branch_shows_and_the_join_says_what_it_went_without(
    page: Page, app_url: str, pages: PageServer
) -> None:
    page.goto(app_url)
    good = [pages.url(f"/pages/{name}.html") for name in ("ars-1", "bbc-1")]
    gone = pages.url("/status/404")
    card = submit_task(page, "One page missing", f"Compare {good[0]}, {good[1]} and {gone}")
    expect(status_of(card)).to_have_text("completed", timeout=TASK_DONE_MS)
    plan = plan_of(card)
    broken = plan.get_by_role("list", name="Branch 3", exact=True)
    fetch = broken.locator("summary").first
    expect(fetch).to_have_accessible_name(re.compile(r"^Fetch page .*/status/404, failed \(optional\)"))
    expect(broken.locator("li.step-failed")).to_have_count(1)
    expect(broken.locator("li.step-skipped")).to_have_count(1)
    fetch.click()
    expect(broken.locator(".step-error")).to_contain_text("404")  # the failed fetch's error only
    expect(broken.locator(".step-note")).to_contain_text("skipped")
    join = plan.get_by_role("list", name="Step 4, after branches 1, 2 and 3", exact=True)
    join.locator("summary").press("Enter")
    expect(join.locator(".step-details")).to_contain_text(re.compile(r"Went on without: extract_3 \(.+\)"))
    expect(card.locator(".task-result")).to_contain_text("Compared 2 texts")
