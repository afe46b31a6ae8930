"""Offline comparison of several texts: each one's key points, what they share, where they differ.

- key points: each text's extractive summary (LexRank, agent_common.summarizer), in order;
- shared points: pairs of sentences from different texts that say much the same (TF-IDF cosine
  over all texts' central sentences at least a threshold), best first;
- shared terms: content words prominent in every text; distinct terms: prominent in one only;
- only here: a text's key points that no sentence of the other texts resembles.

Every point is a sentence of its text, verbatim. Pure and deterministic; run it in a thread.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from agent_common.sentences import split_sentences, word_count
from agent_common.summarizer import centrality, summarize, tfidf_vectors
from agent_worker.answering import Source, terms, words

# words any text uses, which say nothing about what two texts have in common
_GENERIC = frozenset(
    """
    said say make made since also like new one two get take use used way time year many much even
    still well
    """.split()
)
_CLOSED = re.compile(r"[.!?…。！？][\"'”’»)\]]*$")


@dataclass(frozen=True)
class Limits:
    key_points: int = 4
    max_shared: int = 4
    max_terms: int = 8
    candidates: int = 150  # most central sentences per text that are matched
    shared_min_similarity: float = 0.3
    distinct_max_similarity: float = 0.12


@dataclass(frozen=True)
class Point:
    url: str | None
    quote: str


@dataclass(frozen=True)
class SharedPoint:
    similarity: float
    quotes: list[Point]  # one sentence from each of two texts


@dataclass(frozen=True)
class TextReport:
    url: str | None
    title: str | None
    word_count: int
    key_points: list[str]
    only_here: list[str]  # key points no other text resembles
    distinct_terms: list[str]  # prominent here, absent elsewhere


@dataclass(frozen=True)
class Comparison:
    texts: list[TextReport]
    shared_points: list[SharedPoint]
    shared_terms: list[str]
    summary: str


@dataclass(frozen=True)
class _Sentence:
    source: int
    position: int
    text: str
    score: float  # centrality within its text


def _citable(sentence: str) -> bool:
    return 6 <= word_count(sentence) <= 80 and bool(_CLOSED.search(sentence)) and not sentence[0].islower()


def central_sentences(source: Source, index: int, limits: Limits) -> tuple[list[_Sentence], list[int]]:
    """The text's most central citable sentences (LexRank) and, among them, its key points (the
    extractive summary of those sentences). A long text is first cut to the sentences closest
    to its centroid, which takes linear time, so LexRank's pairwise work stays bounded."""
    sentences = split_sentences(source.text)
    picked = [(p, s) for p, s in enumerate(sentences) if _citable(s)] or list(enumerate(sentences))
    if len(picked) > limits.candidates:
        picked = _nearest_centroid(picked, limits.candidates)
    if not picked:
        return [], []
    scores = centrality([s for _, s in picked])
    found = [_Sentence(index, p, s, score) for (p, s), score in zip(picked, scores, strict=True)]
    summary = summarize(
        "\n\n".join(s for _, s in picked),
        title=source.title,
        min_sentences=min(3, limits.key_points),
        max_sentences=limits.key_points,
    ).sentences
    where = {f.text: i for i, f in reversed(list(enumerate(found)))}
    return found, [where[t] for t in summary if t in where]


def _nearest_centroid(picked: list[tuple[int, str]], limit: int) -> list[tuple[int, str]]:
    """The `limit` sentences whose TF-IDF vectors point most nearly the way of the text's sum
    (centroid-based centrality), in text order."""
    counts = [Counter(terms(s)) for _, s in picked]
    df = Counter(t for c in counts for t in c)
    idf = {t: math.log(1 + len(picked) / n) for t, n in df.items()}
    centroid: Counter[str] = Counter()
    for c in counts:
        centroid.update({t: tf * idf[t] for t, tf in c.items()})
    scores = []
    for c in counts:
        v = {t: tf * idf[t] for t, tf in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        scores.append(sum(x * centroid[t] for t, x in v.items()) / norm)
    best = sorted(range(len(picked)), key=lambda i: (-scores[i], i))[:limit]
    return [picked[i] for i in sorted(best)]


def _vectors(sentences: list[_Sentence]) -> list[dict[str, float]]:
    """Unit TF-IDF vectors, each sentence of every text a document."""
    return tfidf_vectors([terms(s.text) for s in sentences])


def _cross_similarities(
    sentences: list[_Sentence], vectors: list[dict[str, float]]
) -> dict[tuple[int, int], float]:
    """Cosine of every pair of sentences from different texts that share a term."""
    index: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, v in enumerate(vectors):
        for t, x in v.items():
            index[t].append((i, x))
    dots: dict[tuple[int, int], float] = defaultdict(float)
    for postings in index.values():
        for a, (i, x) in enumerate(postings):
            for j, y in postings[a + 1 :]:
                if sentences[i].source != sentences[j].source:
                    dots[(i, j)] += x * y
    return dots


def _shared_points(
    sentences: list[_Sentence], sims: dict[tuple[int, int], float], sources: list[Source], limits: Limits
) -> list[SharedPoint]:
    """The most similar cross-text pairs above the threshold, no sentence used twice."""
    used: set[int] = set()
    points: list[SharedPoint] = []
    for (i, j), sim in sorted(sims.items(), key=lambda x: (-x[1], x[0])):
        if len(points) >= limits.max_shared or sim < limits.shared_min_similarity:
            break
        if i in used or j in used or _same_words(sentences[i].text, sentences[j].text):
            continue
        used.update((i, j))
        a, b = sorted((sentences[i], sentences[j]), key=lambda s: s.source)
        points.append(
            SharedPoint(
                round(sim, 3), [Point(sources[a.source].url, a.text), Point(sources[b.source].url, b.text)]
            )
        )
    return points


def _same_words(a: str, b: str) -> bool:
    """Boilerplate repeated verbatim on several pages (a newsletter line) is no shared point."""
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _term_profiles(sources: list[Source]) -> tuple[list[Counter[str]], dict[str, str]]:
    """Per text, in how many of its sentences each term occurs; and the commonest word per term."""
    profiles: list[Counter[str]] = []
    surfaces: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for source in sources:
        profile: Counter[str] = Counter()
        for sentence in split_sentences(source.text):
            found = [
                (w, t) for w, t in words(sentence) if len(t) > 2 and not t.isdigit() and w not in _GENERIC
            ]
            profile.update({t for _, t in found})
            for word, term in found:
                surfaces[term][word] += 1
        profiles.append(profile)
    return profiles, {t: c.most_common(1)[0][0] for t, c in surfaces.items()}


def _salience(profile: Counter[str]) -> dict[str, float]:
    """How much each term marks a text: the share of its sentences that use it (at least two)."""
    size = sum(profile.values()) or 1
    return {t: n / size for t, n in profile.items() if n >= 2}


def _terms(sources: list[Source], limits: Limits) -> tuple[list[str], list[list[str]]]:
    """Terms prominent in every text (shared) and, per text, prominent in it alone (distinct)."""
    profiles, surface = _term_profiles(sources)
    salience = [_salience(p) for p in profiles]
    common = set.intersection(*(set(s) for s in salience)) if salience else set()
    # prominent in every text: ranked by the product of the shares (a term big in one text and
    # incidental in another ranks below one that all of them keep returning to)
    shared = sorted(common, key=lambda t: (-math.prod(s[t] for s in salience), t))[: limits.max_terms]
    distinct = []
    for k, mine in enumerate(salience):
        elsewhere = set().union(*(profiles[o] for o in range(len(profiles)) if o != k))
        alone = sorted((t for t in mine if t not in elsewhere), key=lambda t: (-mine[t], t))
        distinct.append([surface.get(t, t) for t in alone[: limits.max_terms]])
    return [surface.get(t, t) for t in shared], distinct


def compare(sources: list[Source], limits: Limits | None = None) -> Comparison:
    limits = limits or Limits()
    picked = [central_sentences(s, k, limits) for k, s in enumerate(sources)]
    per_text = [sentences for sentences, _ in picked]
    pool = [s for sentences in per_text for s in sentences]
    vectors = _vectors(pool)
    sims = _cross_similarities(pool, vectors)
    best_match: defaultdict[int, float] = defaultdict(float)
    for (i, j), sim in sims.items():
        best_match[i] = max(best_match[i], sim)
        best_match[j] = max(best_match[j], sim)
    shared_terms, distinct = _terms(sources, limits)
    reports = []
    offset = 0
    for k, (source, (sentences, keys)) in enumerate(zip(sources, picked, strict=True)):
        key_points = [sentences[i].text for i in keys]
        lonely = limits.distinct_max_similarity
        only_here = [sentences[i].text for i in keys if best_match[offset + i] < lonely]
        reports.append(
            TextReport(source.url, source.title, word_count(source.text), key_points, only_here, distinct[k])
        )
        offset += len(sentences)
    shared = _shared_points(pool, sims, sources, limits)
    return Comparison(reports, shared, shared_terms, describe(reports, shared, shared_terms))


def _name(report: TextReport, k: int) -> str:
    return report.title or report.url or f"text {k + 1}"


def describe(reports: list[TextReport], shared: list[SharedPoint], shared_terms: list[str]) -> str:
    """The comparison as a few plain sentences (the step's `summary`, for older clients)."""
    names = [_name(r, k) for k, r in enumerate(reports)]
    lines = [f"Compared {len(reports)} texts: " + "; ".join(f"“{n}”" for n in names) + "."]
    if shared_terms:
        who = "both" if len(reports) == 2 else "all of them"
        lines.append(f"Words {who} use often: " + ", ".join(shared_terms) + ".")
    if shared:
        point = shared[0].quotes
        lines.append(f"They make a similar point: “{point[0].quote}” and “{point[1].quote}”")
    else:
        lines.append("No sentence of one closely matches a sentence of another.")
    for name, report in zip(names, reports, strict=True):
        if report.distinct_terms:
            lines.append(f"Only “{name}” covers " + ", ".join(report.distinct_terms[:5]) + ".")
        if report.key_points:
            lines.append(f"Key point of “{name}”: {report.key_points[0]}")
    return " ".join(lines)
