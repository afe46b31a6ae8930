"""Words and sentences as the summarizer, the answer and compare steps count and cite them.

Sentences are returned verbatim; a paragraph break always ends one, so a title or byline is
never glued to one, and an abbreviation ("U.S.", "e.g.", "No. 5") or an initial does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+(?:[-'’.,]\w+)*")


def word_count(text: str) -> int:
    """Words as a reader counts them: "don't", "state-of-the-art" and "3.5" are one each."""
    return sum(1 for _ in _WORD.finditer(text))


_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v\u00a0]*\n\s*")
# a sentence ends at . ! ? … maybe followed by closing quotes or brackets, then a space;
# CJK full stops need no space
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+[」』”’)]*")
# the first letter or digit of what follows, past opening quotes, brackets and symbols
_NEXT_START = re.compile(r"\s+[\"'“‘«(\[¿¡$€£#*•–—-]*(\w)")
# abbreviations that do not end a sentence even before a capitalised word
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms mx dr prof sr jr st rev fr hon gov sen rep gen col lt maj capt sgt cmdr adm pres
    supt insp mt ft ave blvd rd vol vols fig figs pp approx dept univ assn ph.d bros co corp inc
    ltd plc llc vs etc al cf ca viz jan feb apr jun jul aug sep sept oct nov dec
    """.split()
)
_NUMBERED = frozenset({"no", "nos", "nr"})  # "No. 5": an abbreviation only before a number
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]|[^\W\d_]")  # U.S, e.g, i.e, Ph.D, and initials (J.)
_OPENERS = "\"'“‘«(["


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _paragraphs(text: str) -> list[_Span]:
    """Blocks between blank lines; inside one, a line much shorter than its neighbours
    (a heading, a byline) is a block of its own, while hard-wrapped prose stays together."""
    spans, start = [], 0
    for brk in _PARAGRAPH_BREAK.finditer(text):
        spans.extend(_short_line_blocks(text, start, brk.start()))
        start = brk.end()
    spans.extend(_short_line_blocks(text, start, len(text)))
    return spans


def _short_line_blocks(text: str, start: int, end: int) -> list[_Span]:
    lines, pos = [], start
    for raw in text[start:end].split("\n"):
        lines.append(_Span(pos, pos + len(raw)))
        pos += len(raw) + 1
    widest = max(len(text[s.start : s.end].strip()) for s in lines)
    blocks, block_start = [], start
    for line, nxt in zip(lines, lines[1:], strict=False):
        if len(text[line.start : line.end].strip()) < 0.6 * widest:  # ends its block
            blocks.append(_Span(block_start, line.end))
            block_start = nxt.start
    blocks.append(_Span(block_start, end))
    return [b for b in blocks if text[b.start : b.end].strip()]


def _is_boundary(text: str, punctuation: re.Match[str], sentence_start: int, block_end: int) -> bool:
    """Does this punctuation close a sentence? Not before a lowercase word, and a single
    period not after an abbreviation or an initial ("Mr. Smith", "U.S. Army", "J. Doe")."""
    punct = punctuation.group(0)
    if punct[0] in "。！？":
        return True
    following = _NEXT_START.match(text, punctuation.end(), block_end)
    if following is None or following.group(1).islower():
        return False
    if not punct.startswith(".") or punct.startswith(".."):
        return True  # ! ? and ellipses end a sentence before a capital
    before = text[sentence_start : punctuation.start()].split()
    last = before[-1].lstrip(_OPENERS).lower() if before else ""
    if last in _NUMBERED:
        return not following.group(1).isdigit()
    return not (last in _ABBREVIATIONS or _DOTTED.fullmatch(last))


def _sentence_spans(text: str, block: _Span) -> list[_Span]:
    spans, start = [], block.start
    for punctuation in _END.finditer(text, block.start, block.end):
        if _is_boundary(text, punctuation, start, block.end):
            spans.append(_Span(start, punctuation.end()))
            start = punctuation.end()
    spans.append(_Span(start, block.end))
    return [_strip(text, s) for s in spans if text[s.start : s.end].strip()]


def _strip(text: str, span: _Span) -> _Span:
    chunk = text[span.start : span.end]
    lead = len(chunk) - len(chunk.lstrip())
    return _Span(span.start + lead, span.start + len(chunk.rstrip()))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, verbatim, in order; a paragraph break always ends one."""
    return [text[s.start : s.end] for b in _paragraphs(text) for s in _sentence_spans(text, b)]
