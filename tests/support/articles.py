"""The expected article of a fixture page, as text, for comparing extraction and summaries."""

from __future__ import annotations

import json
import re
from functools import cache

import lxml.html

from tests.shared_data import page_file

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")


@cache
def expected_text(page: str) -> str:
    """expected.html with its tags stripped (block elements separated by blank lines)."""
    # the files are UTF-8 without a charset declaration: decode before lxml guesses latin-1
    root = lxml.html.fromstring(page_file(page, "expected.html").read_text(encoding="utf-8"))
    for block in root.iter(
        "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "figcaption", "td", "br"
    ):
        block.tail = "\n\n" + (block.tail or "")
    return root.text_content()


def expected_title(page: str) -> str:
    return str(json.loads(page_file(page, "expected-metadata.json").read_text())["title"])


def normalize(text: str) -> str:
    """Collapse whitespace and unify quotes/dashes so verbatim checks ignore typography."""
    table = str.maketrans(
        {
            "\u2018": "'",
            "\u2019": "'",
            "\u201c": '"',
            "\u201d": '"',
            "\u00a0": " ",
            "\u2013": "-",
            "\u2014": "-",
        }
    )
    return _SPACE.sub(" ", text.translate(table)).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())
