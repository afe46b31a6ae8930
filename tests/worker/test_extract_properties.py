"""Properties of the extractor on generated pages: whatever the markup, it answers (no
exception), quickly, and invents nothing: every word it returns is on the page."""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_worker.extract import extract

WORDS = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=12)
SENTENCE = st.lists(WORDS, min_size=3, max_size=25).map(lambda ws: " ".join(ws) + ".")
BLOCK_TAGS = ["p", "div", "li", "h2", "blockquote", "td", "pre", "section"]
CHROME = ["nav", "footer", "aside", "header", "script", "style"]


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, str]:
    """(HTML, its visible words as one string) from random blocks, chrome and attributes."""
    blocks, visible = [], []
    for _ in range(draw(st.integers(0, 30))):
        text = " ".join(draw(st.lists(SENTENCE, min_size=1, max_size=4)))
        tag = draw(st.sampled_from(BLOCK_TAGS + CHROME))
        blocks.append(f"<{tag} class='{draw(WORDS)}'>{html.escape(text)}</{tag}>")
        if tag not in ("script", "style"):
            visible.append(text)
    title = draw(SENTENCE)
    head = f"<head><title>{html.escape(title)}</title></head>"
    page = f"<html>{head}<body><article>{''.join(blocks)}</article></body></html>"
    return page, " ".join([title, *visible])


def words(text: str) -> set[str]:
    # the extractors normalise Unicode (a compatibility ideograph becomes its unified
    # form), which changes no word a reader sees: compare normalised words
    return set(re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_extract_invents_nothing(page: tuple[str, str]) -> None:
    source, visible = page
    result = extract(source)  # its speed is bench_extract's figure, not an assertion here
    assert words(result.text) <= words(visible), words(result.text) - words(visible)
    if result.title:
        assert words(result.title) <= words(visible)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_as_html_is_answered(text: str) -> None:
    result = extract(text)
    assert isinstance(result.text, str) and "\x00" not in result.text


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=2000))
def test_plain_text_keeps_every_word(text: str) -> None:
    result = extract(text, "text/plain")
    assert result.text.split() == text.replace("\r", "\n").split()
