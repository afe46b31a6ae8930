"""The article's title and main text from a page, by agreement of two extractors.

trafilatura and readability-lxml each pick the article out of the page; each misses or
adds something on some pages. We map both answers back onto the page's own text blocks:
blocks both chose mark where the article runs, and inside that run a block either one
chose is kept (one extractor's miss is the other's catch). After the run only
readability's picks are kept (it keeps trailing sections trafilatura drops); before it,
nothing (headlines, decks and navigation live there). When the extractors do not agree
on anything, one of them alone, and when both find nothing, every visible paragraph.

CPU-bound (tens of milliseconds a page): callers run `extract` in a thread.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import lxml.etree
import lxml.html
import trafilatura
from readability import Document
from readability.readability import Unparseable

from agent_common.sentences import word_count
from agent_worker.titles import pick_title

log = logging.getLogger(__name__)

BLOCK_TAGS = frozenset(
    """
    address article aside blockquote body caption center dd details dialog div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section
    summary table tbody td tfoot th thead tr ul
    """.split()
)
SKIPPED_TAGS = frozenset(
    """
    script style noscript template svg math head iframe object embed select option button input
    textarea canvas video audio
    """.split()
)
CHROME_TAGS = frozenset({"nav", "header", "footer", "aside", "form"})  # left out by the last fallback
LINE_BREAK = "\x00"  # <br> inside a block: a paragraph break in the text, not a block boundary
SHORT_BLOCK_WORDS = 4  # shorter blocks match anywhere by chance: judged by their neighbours
_TOKEN = re.compile(r"\w+")
_WHITESPACE = re.compile(r"\s{2,}")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str  # paragraphs separated by "\n\n"
    extractor: str  # which extractor's answer this is, see `extract`

    @property
    def word_count(self) -> int:
        return word_count(self.text)


@dataclass(frozen=True)
class Block:
    text: str  # whitespace collapsed, <br> kept as LINE_BREAK
    key: str  # " word word ... ": lowercase tokens, padded for whole-word matching
    chrome: bool  # inside nav, header, footer, aside or form

    @property
    def words(self) -> int:
        return self.key.count(" ") - 1


def extract(content: str, content_type: str = "text/html") -> Extracted:
    """Title and main text. `extractor` is "trafilatura+readability" (agreement),
    "trafilatura" or "readability" (one alone), "fallback" (visible paragraphs) or
    "plain" (text/plain passed through)."""
    if content_type == "text/plain":
        return Extracted(None, plain_paragraphs(content), "plain")
    content = _XML_DECLARATION.sub("", content, count=1)  # lxml refuses str input that declares bytes
    root = parse(content)
    if root is None:
        return Extracted(None, "", "fallback")
    blocks = page_blocks(root)
    title = pick_title(root)
    trafilatura_text = run_trafilatura(content)
    readability_text = run_readability(content)
    chosen = merge(blocks, tokens_key(trafilatura_text), tokens_key(readability_text))
    if chosen:
        return Extracted(title, join(chosen), "trafilatura+readability")
    for name, text in (("trafilatura", trafilatura_text), ("readability", readability_text)):
        if text.strip():
            return Extracted(title, text, name)
    visible = [b for b in blocks if not b.chrome] or blocks
    return Extracted(title, join(visible), "fallback")


def plain_paragraphs(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n[ \t]*\n\s*", "\n\n", text).strip()


def parse(content: str) -> lxml.html.HtmlElement | None:
    try:
        return lxml.html.document_fromstring(content)
    except (lxml.etree.ParserError, ValueError):
        return None  # empty or not HTML at all


# --- the page's text blocks ------------------------------------------------------------------


def hidden(el: lxml.html.HtmlElement) -> bool:
    return el.get("hidden") is not None or bool(_HIDDEN_STYLE.search(el.get("style", "")))


def page_blocks(root: lxml.html.HtmlElement) -> list[Block]:
    """The visible text of the page as blocks in document order: a block element starts and
    ends one, inline elements (links, emphasis) stay inside."""
    blocks: list[Block] = []
    pieces: list[str] = []
    chrome = 0

    def flush() -> None:
        text = block_text("".join(pieces))
        pieces.clear()
        if text:
            blocks.append(Block(text, tokens_key(text), chrome > 0))

    walker = lxml.etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, el in walker:
        if event in ("comment", "pi"):
            pieces.append(el.tail or "")
            continue
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in SKIPPED_TAGS or hidden(el):
                walker.skip_subtree()
                continue
            if tag in BLOCK_TAGS:
                flush()
            chrome += tag in CHROME_TAGS
            pieces.append(LINE_BREAK if tag == "br" else el.text or "")
        else:
            if tag in SKIPPED_TAGS or hidden(el):
                pieces.append(el.tail or "")
                continue
            if tag in BLOCK_TAGS:
                flush()
            chrome -= tag in CHROME_TAGS
            pieces.append(el.tail or "")
    flush()
    return blocks


def block_text(raw: str) -> str:
    lines = (" ".join(line.split()) for line in raw.split(LINE_BREAK))
    return LINE_BREAK.join(line for line in lines if line)


def tokens_key(text: str) -> str:
    return " " + " ".join(_TOKEN.findall(text.lower())) + " "


def join(blocks: list[Block]) -> str:
    return "\n\n".join(b.text.replace(LINE_BREAK, "\n\n") for b in blocks)


# --- the two extractors ----------------------------------------------------------------------

# Either extractor failing on an odd page must not fail the task while the other may
# still read it: their errors are logged and count as finding nothing.


def run_trafilatura(content: str) -> str:
    try:
        text = trafilatura.extract(content, include_comments=False, favor_recall=True)
    except Exception as exc:  # see above
        log.warning("trafilatura failed: %r", exc)
        return ""
    return plain_paragraphs(re.sub(r"\n+", "\n\n", text)) if text else ""


def run_readability(content: str) -> str:
    # readability-lxml's whitespace regexes backtrack on long runs of spaces: squeezing them
    # first makes it a third faster over the fixture pages (on one, salon-1, it then misses an
    # embedded tweet, which trafilatura still supplies to the merged text)
    squeezed = _WHITESPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", content)
    try:
        article = Document(squeezed).summary(html_partial=True)
    except Unparseable as exc:
        log.info("readability found no article: %s", exc)
        return ""
    except Exception as exc:  # see above
        log.warning("readability failed: %r", exc)
        return ""
    root = parse(article)
    return join(page_blocks(root)) if root is not None else ""


# --- agreement ---------------------------------------------------------------------------------


def merge(blocks: list[Block], trafilatura_key: str, readability_key: str) -> list[Block]:
    """The page blocks making up the article, by agreement (see the module's docstring)."""
    in_t = [len(b.key) > 2 and b.key in trafilatura_key for b in blocks]
    in_r = [len(b.key) > 2 and b.key in readability_key for b in blocks]
    long = [b.words >= SHORT_BLOCK_WORDS for b in blocks]
    agreed = [i for i, b in enumerate(blocks) if long[i] and in_t[i] and in_r[i]]
    if not agreed:
        return []
    first, last = agreed[0], agreed[-1]

    def wanted(i: int) -> bool:
        if not long[i] or i < first:
            return False
        return in_t[i] or in_r[i] if i <= last else in_r[i]

    keep = [wanted(i) for i in range(len(blocks))]
    keep_short_between(keep, long, [t or r for t, r in zip(in_t, in_r, strict=True)])
    return [b for b, k in zip(blocks, keep, strict=True) if k]


def keep_short_between(keep: list[bool], long: list[bool], found: list[bool]) -> None:
    """A short block (a table cell, a list item, a subheading) found by an extractor is kept
    when the long blocks on both sides of it are."""
    previous_kept = False
    pending: list[int] = []
    for i, is_long in enumerate(long):
        if is_long:
            if keep[i] and previous_kept:
                for j in pending:
                    keep[j] = True
            previous_kept, pending = keep[i], []
        elif found[i]:
            pending.append(i)
