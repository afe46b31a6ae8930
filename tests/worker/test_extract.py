"""extract_text: quality over the 20 fixture pages (word-level F1 against each page's
expected.html, compared with trafilatura and readability alone), titles, and behaviour."""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_worker import extract as extract_module
from agent_worker.extract import extract, run_readability, run_trafilatura
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, StepInput, extract_text
from tests.shared_data import PAGE_NAMES
from tests.support.fixture_articles import expected_text, expected_title, precision_recall_f1, source_html

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "extraction.txt"


@dataclass
class Row:
    page: str
    ours: tuple[float, float, float]
    trafilatura: float
    readability: float
    extractor: str
    title: str | None
    title_ok: bool


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    out = []
    for page in PAGE_NAMES:
        html, expected = source_html(page), expected_text(page)
        result = extract(html)
        out.append(
            Row(
                page,
                precision_recall_f1(result.text, expected),
                precision_recall_f1(run_trafilatura(html), expected)[2],
                precision_recall_f1(run_readability(html), expected)[2],
                result.extractor,
                result.title,
                result.title == " ".join(expected_title(page).split()),
            )
        )
    report(out)
    return out


def report(rows: list[Row]) -> None:
    lines = [f"{'page':<20} {'P':>6} {'R':>6} {'F1':>6} {'trafil':>6} {'readab':>6}  title  extractor"]
    for r in rows:
        p, rec, f1 = r.ours
        lines.append(
            f"{r.page:<20} {p:6.3f} {rec:6.3f} {f1:6.3f} {r.trafilatura:6.3f} {r.readability:6.3f}"
            f"  {'ok' if r.title_ok else 'MISS':<5}  {r.extractor}"
        )
    lines.append(
        f"{'mean':<20} {'':>6} {'':>6} {mean_f1(rows):6.3f} "
        f"{statistics.mean(r.trafilatura for r in rows):6.3f} "
        f"{statistics.mean(r.readability for r in rows):6.3f}  "
        f"titles matched: {sum(r.title_ok for r in rows)}/{len(rows)}"
    )
    for r in rows:
        if not r.title_ok:
            lines.append(f"title of {r.page}: {r.title!r}, expected {expected_title(r.page)!r}")
    text = "\n".join(lines)
    print("\n" + text)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(text + "\n")


def mean_f1(rows: list[Row]) -> float:
    return statistics.mean(r.ours[2] for r in rows)


def test_mean_f1_over_the_fixture_pages(rows: list[Row]) -> None:
    assert len(rows) == 20
    assert mean_f1(rows) >= 0.95


def test_no_page_is_badly_extracted(rows: list[Row]) -> None:
    worst = min(rows, key=lambda r: r.ours[2])
    assert worst.ours[2] >= 0.9, worst


def test_both_extractors_are_consulted(rows: list[Row]) -> None:
    """The baselines printed beside ours are real runs, and agreement decided every page."""
    assert all(r.trafilatura > 0.5 and r.readability > 0.5 for r in rows)
    assert {r.extractor for r in rows} == {"trafilatura+readability"}


def test_titles(rows: list[Row]) -> None:
    matched = sum(r.title_ok for r in rows)
    assert matched >= 18, [(r.page, r.title) for r in rows if not r.title_ok]


def test_paragraphs_are_kept(rows: list[Row]) -> None:
    text = extract(source_html("cnn")).text
    paragraphs = text.split("\n\n")
    assert len(paragraphs) >= 8
    assert all(p.strip() == p and "\n" not in p for p in paragraphs)
    assert paragraphs[0].startswith("The U.S. has long been heralded as a land of opportunity")


# --- behaviour on other input ---------------------------------------------------------------------


def test_plain_text_is_passed_through() -> None:
    result = extract("First paragraph\nwrapped.\r\n\r\n\n\nSecond one.\n", "text/plain")
    assert result == extract_module.Extracted(None, "First paragraph\nwrapped.\n\nSecond one.", "plain")


def test_line_breaks_become_paragraphs() -> None:
    html = (
        "<html><body><article><p>A poem line that runs on for a while<br>and its second line here"
        "<br><br>Then a new stanza starts and goes on and on.</p>" + "<p>More text follows in this "
        "article so the extractors agree there is one here.</p>" * 3 + "</article></body></html>"
    )
    text = extract(html).text
    assert text.startswith("A poem line that runs on for a while\n\nand its second line here\n\nThen a new")


def test_fallback_takes_visible_paragraphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "run_trafilatura", lambda html: "")
    monkeypatch.setattr(extract_module, "run_readability", lambda html: "")
    html = (
        "<html><body><nav>Home | About</nav><div>Real text of the page.</div>"
        "<p hidden>not shown</p><p style='display: none'>nor this</p>"
        "<footer>(c) us</footer></body></html>"
    )
    result = extract(html)
    assert (result.extractor, result.text) == ("fallback", "Real text of the page.")


def test_one_extractor_alone_when_they_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "run_readability", lambda html: "")
    result = extract(source_html("cnn"))
    assert result.extractor == "trafilatura"
    assert precision_recall_f1(result.text, expected_text("cnn"))[2] > 0.9


def test_a_failing_extractor_leaves_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(extract_module.trafilatura, "extract", broken)
    result = extract(source_html("cnn"))
    assert result.extractor == "readability"
    assert precision_recall_f1(result.text, expected_text("cnn"))[2] > 0.9


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "<html></html>",
        "<!-- only a comment -->",
        "\x00\x01",
        '<?xml version="1.0" encoding="utf-8"?><html><body></body></html>',
        "<div>" * 3000 + "deep" + "</div>" * 3000,
    ],
)
def test_empty_or_odd_pages_do_not_raise(html: str) -> None:
    assert isinstance(extract(html).text, str)


def test_xhtml_with_an_xml_declaration() -> None:
    paragraph = "<p>Paragraph {} of an XHTML article with plenty of words to read here.</p>"
    body = "".join(paragraph.format(i) for i in range(6))
    html = (
        f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
        f"<title>An XHTML article title</title></head><body>{body}</body></html>"
    )
    result = extract(html, "application/xhtml+xml")
    assert result.title == "An XHTML article title"
    assert result.text.count("\n\n") == 5


@pytest.mark.parametrize(
    ("head", "title"),
    [
        (
            '<meta property="og:title" content="  From   Open Graph "><title>Other - Site</title>',
            "From Open Graph",
        ),
        (
            '<meta name="DC.Title" content="Dublin Core"><meta property="og:title" content="OG">',
            "Dublin Core",
        ),
        (
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",'
            ' "headline": "From JSON-LD"}</script><meta property="og:title" content="OG">',
            "From JSON-LD",
        ),
        (
            '<script type="application/ld+json">{"@graph": [{"@type": "WebSite", "name": "Site"},'
            ' {"@type": ["BlogPosting"], "name": "In a graph"}]}</script>',
            "In a graph",
        ),
        ("<title>A long enough article title | Example News</title>", "A long enough article title"),
        (
            "<title>Example News | A long enough article title here</title>",
            "A long enough article title here",
        ),
        ("<title>Site: An article title with words</title>", "An article title with words"),
        ("<title>Short | Site</title>", "Short | Site"),
        ("", "The only heading"),
    ],
)
def test_title_sources(head: str, title: str) -> None:
    html = f"<html><head>{head}</head><body><h1>The only heading</h1><p>Some text.</p></body></html>"
    assert extract(html).title == title


# --- the step --------------------------------------------------------------------------------------


@pytest.fixture
async def ctx() -> Any:
    async with httpx.AsyncClient() as http:
        yield StepContext(WorkerSettings(), http, "task", "extract_1")


async def test_step_reads_fetch_output_in_a_thread(ctx: StepContext, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = extract_text.extract

    def spy(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(extract_text, "extract", spy)
    previous = {
        "url": "http://x/a",
        "final_url": "http://x/b",
        "content_type": "text/html",
        "html": source_html("bbc-1"),
    }
    out = await extract_text.run({}, [StepInput("fetch_1", "fetch_url", previous)], ctx)
    assert threads and threads[0] != threading.get_ident()  # the event loop's thread stays free
    assert out["title"] == expected_title("bbc-1")
    assert out["extractor"] == "trafilatura+readability"
    assert out["word_count"] > 500
    assert out["url"] == "http://x/b"
    assert set(out) == {"title", "text", "word_count", "extractor", "url"}


async def test_step_passes_plain_text(ctx: StepContext) -> None:
    page = {"html": "Just text.\n\nTwo paragraphs.", "content_type": "text/plain"}
    out = await extract_text.run({}, [StepInput("fetch_1", "fetch_url", page)], ctx)
    assert (out["text"], out["extractor"], out["word_count"]) == ("Just text.\n\nTwo paragraphs.", "plain", 4)


async def test_step_refuses_a_page_without_text(ctx: StepContext) -> None:
    with pytest.raises(StepError, match="found no readable text on http://x/empty"):
        page = {"html": "<html><body></body></html>", "final_url": "http://x/empty"}
        await extract_text.run({}, [StepInput("fetch_1", "fetch_url", page)], ctx)


async def test_step_needs_a_page(ctx: StepContext) -> None:
    with pytest.raises(StepError, match="extract_text needs a page"):
        await extract_text.run({}, [], ctx)


async def test_step_says_which_fetch_it_misses(ctx: StepContext) -> None:
    lost = StepInput("fetch_2", "fetch_url", None, "http://x/ answered HTTP 404 Not Found")
    with pytest.raises(StepError, match=r"fetch_2 failed \(http://x/ answered HTTP 404"):
        await extract_text.run({}, [lost], ctx)
