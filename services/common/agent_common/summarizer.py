"""An offline extractive summary: LexRank over the text's sentences.

Deterministic, pure Python and self-contained (no model, nothing fetched), so the worker
and the chat service give the same summary anywhere. Sentences are returned verbatim;
paragraph breaks always end a sentence, so a title or byline is never glued to one.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

__all__ = ["Summary", "centrality", "split_sentences", "summarize", "word_count"]

_WORD = re.compile(r"\w+(?:[-'’.,]\w+)*")


def word_count(text: str) -> int:
    """Words as a reader counts them: "don't", "state-of-the-art" and "3.5" are one each."""
    return sum(1 for _ in _WORD.finditer(text))


# --- sentence splitting ------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v\u00a0]*\n\s*")
# a sentence ends at . ! ? … maybe followed by closing quotes or brackets, then a space;
# CJK full stops need no space
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+[」』”’)]*")
# the first letter or digit of what follows, past opening quotes, brackets and symbols
_NEXT_START = re.compile(r"\s+[\"'“‘«(\[¿¡$€£#*•–—-]*(\w)")
# abbreviations that do not end a sentence even before a capitalised word
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "rev", "fr", "hon", "gov", "sen",
    "rep", "gen", "col", "lt", "maj", "capt", "sgt", "cmdr", "adm", "pres", "supt", "insp", "mt",
    "ft", "ave", "blvd", "rd", "vol", "vols", "fig", "figs", "pp", "approx", "dept", "univ", "assn",
    "ph.d", "bros", "co", "corp", "inc", "ltd", "plc", "llc", "vs", "etc", "al", "cf", "ca", "viz",
    "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"
})
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
    for line in text[start:end].split("\n"):
        lines.append(_Span(pos, pos + len(line)))
        pos += len(line) + 1
    widest = max(len(text[s.start:s.end].strip()) for s in lines)
    blocks, block_start = [], start
    for line, nxt in zip(lines, lines[1:], strict=False):
        if len(text[line.start:line.end].strip()) < 0.6 * widest:  # ends its block
            blocks.append(_Span(block_start, line.end))
            block_start = nxt.start
    blocks.append(_Span(block_start, end))
    return [b for b in blocks if text[b.start:b.end].strip()]


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
    before = text[sentence_start:punctuation.start()].split()
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
    return [_strip(text, s) for s in spans if text[s.start:s.end].strip()]


def _strip(text: str, span: _Span) -> _Span:
    chunk = text[span.start:span.end]
    lead = len(chunk) - len(chunk.lstrip())
    return _Span(span.start + lead, span.start + len(chunk.rstrip()))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, verbatim, in order; a paragraph break always ends one."""
    return [text[s.start:s.end] for b in _paragraphs(text) for s in _sentence_spans(text, b)]


# --- junk: what a summary should not pick --------------------------------------------------

_JUNK = re.compile(
    r"^(advertisement|sponsored|continue reading|read more|related:|share this|click here|sign up|"
    r"subscribe|image:|photo:|photograph:|credit:|caption:|getty images|image copyright|image caption|"
    r"all rights reserved|copyright ©|©)|https?://|www\.\w|\.{4,}|_{4,}|-{4,}",
    re.IGNORECASE,
)
_MIN_WORDS, _MAX_WORDS = 6, 80


def _is_junk(sentence: str) -> bool:
    """Fragments, captions, headings, links, shouting, reference entries and pieces of a
    longer quotation: real text, but poor summary sentences."""
    words = word_count(sentence)
    if not _MIN_WORDS <= words <= _MAX_WORDS or _JUNK.search(sentence):
        return True
    if not re.search(r"[.!?…。！？][\"'”’»)\]]*$", sentence) or sentence[0].islower():
        return True  # no closing punctuation (a heading, caption, list item) or a mid-sentence piece
    if sentence.count('"') % 2 or sentence.count("“") != sentence.count("”"):
        return True  # part of a quotation that spans sentences
    if sum(map(str.isupper, sentence)) > 0.6 * sum(map(str.isalpha, sentence)):
        return True
    long_words = [w for w in sentence.split()[1:] if len(w) > 3 and w[0].isalpha()]
    return len(long_words) >= 4 and sum(w[0].isupper() for w in long_words) > 0.7 * len(long_words)


def _repeated_openings(sentences: list[str]) -> set[str]:
    """Openings shared by several sentences: page furniture (running headers) repeated through
    the text, which a similarity graph would otherwise rank highest."""
    openings = Counter(" ".join(s.split()[:4]).lower() for s in sentences)
    return {o for o, n in openings.items() if n >= 3 and len(o.split()) == 4}


# --- LexRank -------------------------------------------------------------------------------

_STOPWORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few",
    "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
    "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "said", "same",
    "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
    "says", "say", "one", "two", "new", "like", "may", "might", "must"
})
_TERM = re.compile(r"[^\W\d_]{2,}")
_DAMPING, _THRESHOLD, _ITERATIONS, _TOLERANCE = 0.85, 0.1, 100, 1e-7


def _terms(sentence: str) -> list[str]:
    out = []
    for word in _TERM.findall(sentence.lower()):
        if word in _STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # a light stem: "servers" and "server" count as one term
        out.append(word)
    return out


def _vectors(sentences: list[str]) -> list[dict[str, float]]:
    """TF-IDF vectors (unit length) with each sentence as a document."""
    counts = [Counter(_terms(s)) for s in sentences]
    df = Counter(t for c in counts for t in c)
    n = len(sentences)
    vectors = []
    for c in counts:
        v = {t: tf * math.log(1 + n / df[t]) for t, tf in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({t: x / norm for t, x in v.items()})
    return vectors


def _similarities(vectors: list[dict[str, float]]) -> list[dict[int, float]]:
    """Cosine similarities above the LexRank threshold, through an inverted index so the
    cost follows shared terms rather than all pairs."""
    index: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, v in enumerate(vectors):
        for t, x in v.items():
            index[t].append((i, x))
    edges: list[dict[int, float]] = [{} for _ in vectors]
    for i, v in enumerate(vectors):
        dots: dict[int, float] = defaultdict(float)
        for t, x in v.items():
            for j, y in index[t]:
                if j != i:
                    dots[j] += x * y
        edges[i] = {j: d for j, d in dots.items() if d > _THRESHOLD}
    return edges


def _rank(edges: list[dict[int, float]], prior: list[float], damping: float = _DAMPING) -> list[float]:
    """Continuous LexRank: PageRank on the similarity graph, teleporting by `prior`."""
    total = sum(prior)
    teleport = [p / total for p in prior]
    # each sentence hands its score on in proportion to its similarities
    moves = [[(j, w / sum(e.values())) for j, w in e.items()] for e in edges]
    dangling = [i for i, e in enumerate(edges) if not e]
    scores = teleport[:]
    for _ in range(_ITERATIONS):
        restart = (1 - damping) + damping * sum(scores[i] for i in dangling)
        new = [restart * t for t in teleport]
        for score, targets in zip(scores, moves, strict=True):
            share = damping * score
            for j, w in targets:
                new[j] += share * w
        delta = sum(abs(a - b) for a, b in zip(new, scores, strict=True))
        scores = new
        if delta < _TOLERANCE:
            break
    return scores


def centrality(sentences: list[str], prior: list[float] | None = None,
               damping: float = _DAMPING) -> list[float]:
    """Each sentence's LexRank score (summing to 1). A `prior` (positive weights) biases where
    the walk restarts: with each sentence's relevance to a question, the walk favours sentences
    both relevant and supported by others (question-focused LexRank, Otterbacher et al. 2005);
    `damping` is the share of each step that follows similarity rather than the prior."""
    if not sentences:
        return []
    weights = prior if prior is not None else [1.0] * len(sentences)
    return _rank(_similarities(_vectors(sentences)), weights, damping)


def _prior(sentences: list[str], vectors: list[dict[str, float]], title: str | None) -> list[float]:
    """Where the random walk restarts: earlier sentences and ones sharing the title's terms
    a little more often (news leads with its point)."""
    title_terms = set(_terms(title or ""))
    n = len(sentences)
    prior = []
    for i, v in enumerate(vectors):
        overlap = len(title_terms & v.keys()) / len(title_terms) if title_terms else 0.0
        prior.append(1.0 + 1.0 / (1 + 10 * i / n) + overlap)
    return prior


def _pick(sentences: list[str], vectors: list[dict[str, float]], scores: list[float], k: int) -> list[int]:
    """The k best-scoring sentences, passing over near-duplicates of ones already chosen
    unless too few would be left."""
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    for i in order:
        if len(chosen) < k and all(_dot(vectors[i], vectors[j]) < 0.5 for j in chosen):
            chosen.append(i)
    for i in order:
        if len(chosen) < k and i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(t, 0.0) for t, x in a.items())


# --- the summary ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    summary: str          # "Summary: 342 words, about 2 min read. <sentences in original order>"
    sentences: list[str]  # verbatim substrings of the text
    word_count: int
    reading_minutes: int


def summarize(text: str, *, title: str | None = None, min_sentences: int = 3, max_sentences: int = 5,
              words_per_minute: int = 200) -> Summary:
    """3-5 (min..max) of the text's most central sentences, in their original order."""
    words = word_count(text)
    minutes = max(1, round(words / words_per_minute)) if words else 0
    sentences = split_sentences(text)
    chosen = _choose(sentences, words, title, min_sentences, max(min_sentences, max_sentences))
    plural = "" if words == 1 else "s"
    head = f"Summary: {words} word{plural}, about {minutes} min read." if words else "Summary: no text."
    body = " ".join(chosen)  # verbatim, so each sentence can be found in the summary as is
    return Summary(f"{head} {body}".strip(), chosen, words, minutes)


def _choose(sentences: list[str], words: int, title: str | None, low: int, high: int) -> list[str]:
    if len(sentences) <= low:
        return sentences  # a short text is its own summary
    furniture = _repeated_openings(sentences)
    candidates = [s for s in sentences
                  if not _is_junk(s) and " ".join(s.split()[:4]).lower() not in furniture]
    if len(candidates) < low:
        candidates = sentences
    k = min(high, max(low, math.ceil(words / 400)), len(candidates))
    if k == 0:
        return []
    vectors = _vectors(candidates)
    scores = _rank(_similarities(vectors), _prior(candidates, vectors, title))
    return [candidates[i] for i in _pick(candidates, vectors, scores, k)]
