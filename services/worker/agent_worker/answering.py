"""Offline question answering over a few texts: the sentences that answer a question best.

Each sentence of each text is a candidate. BM25 scores how well it matches the question's
content words (stemmed); the best candidates then go through a question-focused LexRank
(agent_common.summarizer.centrality with the BM25 scores as its prior), which favours a
matching sentence that the other matching sentences support. The answer is the best
sentences, each cited verbatim with the URL of its text. Sentences come from the project's
own splitter, so every quote is a sentence of its page as extract_text found it.

Pure and deterministic; callers run it in a thread (a long page has thousands of sentences).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer

from agent_common.sentences import split_sentences, word_count
from agent_common.summarizer import centrality

# question words and fillers that say what kind of answer is wanted, not what it is about
_QUESTION_WORDS = frozenset(
    """
    what which who whom whose when where why how many much long often tell explain describe say
    says said according article page text source sources mention mentioned do does did kind sort
    """.split()
)
_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could doing down during each few for from further had has
    have having he her here hers herself him himself his i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were while will with would you your
    yours yourself yourselves may might must shall s t what which who whom whose when where why
    how isn aren wasn weren don doesn didn hasn haven hadn won wouldn couldn shouldn ll re ve d m
    """.split()
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# "how many", "how much", "what share", "how old": the answer is a quantity
_WANTS_NUMBER = re.compile(
    r"\bhow (many|much|long|old|big|large|small|heavy|tall|far|fast|often)\b|"
    r"\b(what|which) (share|percentage|proportion|fraction|number|amount|price|size|resolution)\b",
    re.IGNORECASE,
)
_WANTS_TIME = re.compile(
    r"^\s*(when|since when|until when)\b|\b(what|which) (year|date|day|month|time)\b", re.IGNORECASE
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
    r"thirty|forty|fifty|hundred|thousand|million|billion|half|dozen)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(january|february|march|april|may|june|july|august|"
    r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|yesterday|today|ago|century|decade)\b",
    re.IGNORECASE,
)

# BM25's usual term saturation; a lighter length normalisation than for documents, since a
# sentence's length says little about how much of it is on topic
_K1, _B = 1.2, 0.3
_PREVIOUS_SHARE = 0.3  # of the sentence before's match added ("It weighs...": "it" is named there)
_FRAGMENT_FACTOR = 0.5  # a heading, caption or list item (no closing punctuation, < 6 words)
_TYPE_BONUS = 0.25  # a sentence holding the kind of answer asked for (a number, a date)
_RELEVANCE_SHARE = 0.85  # of each LexRank step spent on relevance rather than on similarity
_CENTRALITY_WEIGHT = 0.3  # how much the question-focused LexRank adds to the BM25 score
_CLOSED = re.compile(r"[.!?…。！？][\"'”’»)\]]*$")


@dataclass(frozen=True)
class Source:
    text: str
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Citation:
    url: str | None
    quote: str  # a sentence of the source, verbatim
    score: float  # 1.0 for the best sentence, relative below it


@dataclass(frozen=True)
class Answer:
    answer: str
    citations: list[Citation]
    found: bool  # False when no sentence shares a content word with the question
    terms: list[str] = field(default_factory=list)  # the question's terms that were searched


@dataclass(frozen=True)
class Candidate:
    source: int
    position: int  # the sentence's index in its source
    text: str


@dataclass(frozen=True)
class Limits:
    max_citations: int = 3  # citations returned
    max_answer_sentences: int = 2  # sentences joined into the answer text
    min_relative_score: float = 0.5  # a further sentence must score this share of the best
    rank_candidates: int = 200  # the best BM25 sentences that LexRank re-ranks
    max_sentence_words: int = 150  # longer "sentences" (tables, code) are not cited


# A Snowball stemmer keeps its working state on the instance, so two threads (steps run in
# asyncio.to_thread) stemming with one instance corrupt each other: one per thread.
_local = threading.local()


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A word's Snowball stem; cached, since a text repeats its words (a 2 MB text has a few
    hundred thousand words but tens of thousands of distinct ones)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def words(text: str) -> list[tuple[str, str]]:
    """The content words of `text`, each lowercased with its stem ("weighs" -> "weigh")."""
    found = [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]  # "Sudan's" -> "sudan"
    kept = [w for w in found if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]
    return [(w, stem(w)) for w in kept]


def terms(text: str) -> list[str]:
    """The stems of the content words of `text` (what BM25 and the similarities compare)."""
    return [stem for _, stem in words(text)]


def question_terms(question: str) -> list[str]:
    """The question's search terms: its content words without the question words and without
    the URLs it names ("What does https://… say about X?" is about X, not the address)."""
    skip = {stem(w) for w in _QUESTION_WORDS}
    seen: dict[str, None] = {}
    for term in terms(_URL.sub(" ", question)):
        if term not in skip:
            seen.setdefault(term)
    return list(seen)


def candidates(sources: list[Source], limits: Limits) -> list[Candidate]:
    """Every citable sentence of every source, in order."""
    found = []
    for s, source in enumerate(sources):
        for p, sentence in enumerate(split_sentences(source.text)):
            if 3 <= word_count(sentence) <= limits.max_sentence_words:
                found.append(Candidate(s, p, sentence))
    return found


def bm25(query: list[str], documents: list[list[str]]) -> list[float]:
    """Okapi BM25 of each document (a list of terms) for the query terms."""
    n = len(documents)
    if not n or not query:
        return [0.0] * n
    average = sum(map(len, documents)) / n or 1.0
    df = Counter(t for d in documents for t in set(d))
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
    scores = []
    for doc in documents:
        tf = Counter(doc)
        norm = _K1 * (1 - _B + _B * len(doc) / average)
        scores.append(sum(idf[t] * tf[t] * (_K1 + 1) / (tf[t] + norm) for t in query if tf[t]))
    return scores


def _type_bonus(question: str, sentence: str) -> float:
    """A sentence holding the kind of thing asked for (a quantity, a time) scores a bit higher."""
    bonus = 0.0
    if _WANTS_NUMBER.search(question) and _NUMBER.search(sentence):
        bonus += _TYPE_BONUS
    if _WANTS_TIME.search(question) and _TIME.search(sentence):
        bonus += _TYPE_BONUS
    return bonus


def _in_context(pool: list[Candidate], relevance: list[float]) -> list[float]:
    """A matching sentence gains part of the match of the sentence before it (which often names
    what "it" or "this" refers to); fragments (headings, captions) count for less than sentences."""
    scores = []
    for i, (score, candidate) in enumerate(zip(relevance, pool, strict=True)):
        if score and i and _adjacent(pool[i - 1], candidate):
            score += _PREVIOUS_SHARE * relevance[i - 1]
        if not _CLOSED.search(candidate.text) or word_count(candidate.text) < 6:
            score *= _FRAGMENT_FACTOR
        scores.append(score)
    return scores


def _adjacent(before: Candidate, after: Candidate) -> bool:
    return before.source == after.source and before.position + 1 == after.position


def rank(question: str, sources: list[Source], limits: Limits) -> list[tuple[float, Candidate]]:
    """The candidates that share a term with the question, best first, with their scores."""
    query = question_terms(question)
    pool = candidates(sources, limits)
    relevance = _in_context(pool, bm25(query, [terms(c.text) for c in pool]))
    matching = sorted((i for i, r in enumerate(relevance) if r > 0), key=lambda i: (-relevance[i], i))
    best = matching[: limits.rank_candidates]
    if not best:
        return []
    top = relevance[best[0]]
    base = [relevance[i] / top * (1 + _type_bonus(question, pool[i].text)) for i in best]
    walk = centrality([pool[i].text for i in best], prior=base, damping=1 - _RELEVANCE_SHARE)
    peak = max(walk) or 1.0
    scored = [(b + _CENTRALITY_WEIGHT * w / peak, pool[i]) for b, w, i in zip(base, walk, best, strict=True)]
    return sorted(scored, key=lambda x: (-x[0], x[1].source, x[1].position))


def answer(question: str, sources: list[Source], limits: Limits | None = None) -> Answer:
    """The best sentences for the question, cited with their sources' URLs."""
    limits = limits or Limits()
    ranked = rank(question, sources, limits)
    query = question_terms(question)
    if not ranked:
        return Answer("No sentence in the sources matches the question.", [], False, query)
    top = ranked[0][0]
    chosen = [(s, c) for s, c in ranked if s >= limits.min_relative_score * top][: limits.max_citations]
    citations = [Citation(sources[c.source].url, c.text, round(s / top, 3)) for s, c in chosen]
    text = " ".join(c.quote for c in citations[: limits.max_answer_sentences])
    return Answer(text, citations, True, query)
