"""The answer step with a model: its prompt, what it reads (the numbered sources, cut to the
chunks that match the question best when they are too long) and which of its quotes are
kept (those that occur in a source, each as the whole sentence holding it). The offline
answer and the scoring both paths share are in agent_worker.answering."""

from __future__ import annotations

from agent_common.sentences import split_sentences
from agent_worker.answering import Citation, Source, bm25, question_terms, terms

PROMPT = (
    "Answer the user's question from the numbered sources only. Reply with one JSON object and "
    'nothing else: {"answer": "<a short answer in the question\'s language>", "citations": '
    '[{"source": <source number>, "quote": "<one whole sentence copied exactly from that source>"}]}. '
    "Cite the sentences that support the answer, best first. If the sources do not answer the "
    'question, say so in "answer" and give no citations. Do not use knowledge from outside the sources.'
)
_GAP = " […] "  # where chunks left out of a long source were
_QUOTES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "«": '"',
        "»": '"',
        "\u00a0": " ",
    }
)


def normalize(text: str) -> str:
    """Whitespace collapsed and typographic quotes made plain, for finding a quote in its source."""
    return " ".join(text.translate(_QUOTES).split())


def chunks(text: str, size: int) -> list[str]:
    """Consecutive sentences grouped into pieces of about `size` characters (a longer sentence is
    a piece of its own), so a piece never cuts a sentence."""
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for sentence in split_sentences(text):
        if current and length + len(sentence) > size:
            pieces.append(" ".join(current))
            current, length = [], 0
        current.append(sentence)
        length += len(sentence) + 1
    if current:
        pieces.append(" ".join(current))
    return pieces


def model_input(question: str, sources: list[Source], budget: int, chunk_size: int) -> str:
    """The question and the numbered sources. Sources longer than the budget allows are cut to
    their chunks that match the question best (by BM25), kept in their order, gaps marked."""
    heads = [
        f"Source {n}: {s.title or 'untitled'}" + (f" ({s.url})" if s.url else "")
        for n, s in enumerate(sources, 1)
    ]
    opening = f"Question: {question}\n\n"
    room = budget - len(opening) - sum(len(h) + 3 for h in heads)
    if sum(len(s.text) for s in sources) <= room:
        bodies = [s.text.strip() for s in sources]
    else:
        bodies = _best_chunks(question, sources, max(room, chunk_size), chunk_size)
    parts = [f"{head}\n{body}" for head, body in zip(heads, bodies, strict=True)]
    return opening + "\n\n".join(parts)


def _best_chunks(question: str, sources: list[Source], room: int, chunk_size: int) -> list[str]:
    pieces = [
        (s, i, piece)
        for s, source in enumerate(sources)
        for i, piece in enumerate(chunks(source.text, chunk_size))
    ]
    scores = bm25(question_terms(question), [terms(p) for _, _, p in pieces])
    order = sorted(range(len(pieces)), key=lambda k: (-scores[k], k))
    chosen, used = set(), 0
    for k in order:
        if used + len(pieces[k][2]) + len(_GAP) > room:
            continue
        chosen.add(k)
        used += len(pieces[k][2]) + len(_GAP)  # as if a gap marker came before each
    bodies = []
    for s in range(len(sources)):
        kept = [(i, p) for k, (src, i, p) in enumerate(pieces) if src == s and k in chosen]
        text, last = "", -1
        for i, piece in kept:
            text += (_GAP if text and i != last + 1 else " " if text else "") + piece
            last = i
        bodies.append(text or "[…]")
    return bodies


def verified(
    quotes: list[tuple[int | None, str]], sources: list[Source], min_words: int
) -> tuple[list[Citation], list[str]]:
    """The model's (source number, quote) pairs that occur in a source, each as the whole
    sentence(s) of the source holding it, with that source's URL; and what was dropped."""
    located = [_sentence_index(s.text) for s in sources]
    kept: list[Citation] = []
    dropped: list[str] = []
    for number, quote in quotes:
        wanted = normalize(quote)
        if len(wanted.split()) < min_words:
            dropped.append(f"too short to check: {quote[:80]!r}")
            continue
        order = sorted(range(len(sources)), key=lambda s: s + 1 != number)  # the named source first
        found = next(((s, hit) for s in order if (hit := _holding(located[s], wanted))), None)
        if found is None:
            dropped.append(f"not in the sources: {quote[:80]!r}")
            continue
        s, sentences = found
        for sentence in sentences:
            if all(c.quote != sentence or c.url != sources[s].url for c in kept):
                kept.append(Citation(sources[s].url, sentence, 1.0))
    return kept, dropped


def _sentence_index(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The normalised text and where each sentence lies in it."""
    spans, parts, at = [], [], 0
    for sentence in split_sentences(text):
        flat = normalize(sentence)
        spans.append((at, at + len(flat), sentence))
        parts.append(flat)
        at += len(flat) + 1
    return " ".join(parts), spans


def _holding(index: tuple[str, list[tuple[int, int, str]]], wanted: str) -> list[str]:
    """The sentences that the quote's first occurrence overlaps (none when it does not occur)."""
    flat, spans = index
    start = flat.find(wanted)
    if start < 0:
        return []
    end = start + len(wanted)
    return [sentence for a, b, sentence in spans if a < end and b > start]
