"""The fixture pages' expected articles as text, and the word-level F1 that scores an
extraction against them (bag of lowercase word tokens, as the pages' README describes)."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache

import lxml.html

from tests.shared_data import page_file

BLOCKS = (
    "p",
    "div",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "figcaption",
    "td",
    "th",
    "tr",
    "dt",
    "dd",
    "br",
    "table",
    "ul",
    "ol",
    "section",
    "article",
    "figure",
)
_TOKEN = re.compile(r"\w+")


@cache
def source_html(page: str) -> str:
    return page_file(page, "source.html").read_text(encoding="utf-8")


@cache
def expected_text(page: str) -> str:
    """expected.html without its tags; block elements end with a blank line so words of
    neighbouring blocks are never glued. Decoded as UTF-8: the file has no charset of its own."""
    root = lxml.html.fromstring(page_file(page, "expected.html").read_text(encoding="utf-8"))
    for block in root.iter(*BLOCKS):
        block.tail = "\n\n" + (block.tail or "")
    return root.text_content()


def expected_title(page: str) -> str:
    return str(json.loads(page_file(page, "expected-metadata.json").read_text(encoding="utf-8"))["title"])


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def precision_recall_f1(got: str, expected: str) -> tuple[float, float, float]:
    g, e = Counter(tokens(got)), Counter(tokens(expected))
    overlap = sum((g & e).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    p, r = overlap / sum(g.values()), overlap / sum(e.values())
    return p, r, 2 * p * r / (p + r)


def normalize(text: str) -> str:
    """Whitespace collapsed, for finding a sentence in a differently wrapped text."""
    return " ".join(text.split())
