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

from agent_common.sentences import split_sentences, word_count

__all__ = ["Summary", "centrality", "split_sentences", "summarize", "tfidf_vectors", "word_count"]

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

_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own said same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    says say one two new like may might must
    """.split()
)
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
    return tfidf_vectors([_terms(s) for s in sentences])


def tfidf_vectors(documents: list[list[str]]) -> list[dict[str, float]]:
    """TF-IDF vectors (unit length) of documents given as their terms (here: sentences)."""
    counts = [Counter(terms) for terms in documents]
    df = Counter(t for c in counts for t in c)
    n = len(documents)
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


def centrality(
    sentences: list[str], prior: list[float] | None = None, damping: float = _DAMPING
) -> list[float]:
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
    summary: str  # "Summary: 342 words, about 2 min read. <sentences in original order>"
    sentences: list[str]  # verbatim substrings of the text
    word_count: int
    reading_minutes: int


def summarize(
    text: str,
    *,
    title: str | None = None,
    min_sentences: int = 3,
    max_sentences: int = 5,
    words_per_minute: int = 200,
) -> Summary:
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
    candidates = [
        s for s in sentences if not _is_junk(s) and " ".join(s.split()[:4]).lower() not in furniture
    ]
    if len(candidates) < low:
        candidates = sentences
    k = min(high, max(low, math.ceil(words / 400)), len(candidates))
    if k == 0:
        return []
    vectors = _vectors(candidates)
    scores = _rank(_similarities(vectors), _prior(candidates, vectors, title))
    return [candidates[i] for i in _pick(candidates, vectors, scores, k)]
