"""compare: the key points of each text it depends on, what they share and where they differ.

Result (both methods): {"summary": "<the comparison as text, for older clients>",
"texts": [{"url", "title", "word_count", "key_points", "only_here", "distinct_terms"}],
"shared": ["<a point the texts share>"], "shared_terms": [...], "method": "extractive"|"llm"}
and offline also "shared_points": [{"similarity", "quotes": [{"url", "quote"}, ...]}].
Offline it is agent_worker.comparing; with a model the model writes the key points, shared
points and differences (each text cut to its share of the model's input by its most central
sentences), and the offline comparison is used, with the model's error beside it, when the
model fails or answers something unusable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agent_worker import comparing
from agent_worker.answering import Source
from agent_worker.modeljson import ask_json, model_or_offline
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, StepInput, missing, why_missing
from agent_worker.steps.answer import texts
from agent_worker.steps.summarize import llm_settings

log = logging.getLogger("agent.worker.compare")
_GAP = " […] "  # where sentences left out of a long text were

PROMPT = (
    "Compare the numbered texts the user sends. Reply with one JSON object and nothing else: "
    '{"texts": [{"source": <text number>, "key_points": ["<a main point of that text>"]}], '
    '"shared": ["<a point the texts have in common>"], '
    '"differences": [{"source": <text number>, "points": ["<what only this text says, or where it '
    'disagrees with the others>"]}], "summary": "<the comparison in two to four sentences>"}. '
    "Give two to four key points per text. Use only what the texts say, in the texts' language."
)


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    sources = texts({}, inputs)
    if len(sources) < 2:
        reason = why_missing(inputs) or f"it got {len(sources)} text{'' if len(sources) == 1 else 's'}"
        if not sources:
            raise StepError(f"nothing to compare: {reason}")
        log.info("task %s compares one text only: %s", ctx.task_id, reason)
    output = await _compare(sources, ctx)
    if missing(inputs):
        output["missing"] = missing(inputs)
    return output


def limits(settings: WorkerSettings) -> comparing.Limits:
    return comparing.Limits(
        key_points=settings.compare_key_points,
        max_shared=settings.compare_max_shared,
        max_terms=settings.compare_max_terms,
        candidates=settings.compare_candidates,
        shared_min_similarity=settings.compare_shared_min_similarity,
        distinct_max_similarity=settings.compare_distinct_max_similarity,
    )


async def _compare(sources: list[Source], ctx: StepContext) -> dict[str, Any]:
    offline = await asyncio.to_thread(comparing.compare, sources, limits(ctx.settings))

    async def offline_output() -> dict[str, Any]:
        return _offline_output(offline)

    return await model_or_offline(
        ctx.settings.llm_provider,
        lambda: _by_model(sources, offline, ctx),
        offline_output,
        "comparison",
        ctx.task_id,
    )


def _offline_output(found: comparing.Comparison) -> dict[str, Any]:
    return {
        "summary": found.summary,
        "texts": [_text(t, t.key_points, t.only_here) for t in found.texts],
        "shared": [p.quotes[0].quote for p in found.shared_points],
        "shared_points": [
            {"similarity": p.similarity, "quotes": [{"url": q.url, "quote": q.quote} for q in p.quotes]}
            for p in found.shared_points
        ],
        "shared_terms": found.shared_terms,
        "method": "extractive",
    }


def _text(report: comparing.TextReport, key_points: list[str], only_here: list[str]) -> dict[str, Any]:
    return {
        "url": report.url,
        "title": report.title,
        "word_count": report.word_count,
        "key_points": key_points,
        "only_here": only_here,
        "distinct_terms": report.distinct_terms,
    }


def model_input(sources: list[Source], budget: int, limits: comparing.Limits) -> str:
    """The numbered texts, each cut to an even share of the budget: a longer text is given as
    its most central sentences, in their order, gaps marked."""
    heads = [
        f"Text {n}: {s.title or 'untitled'}" + (f" ({s.url})" if s.url else "")
        for n, s in enumerate(sources, 1)
    ]
    room = max(500, (budget - sum(len(h) + 3 for h in heads)) // len(sources))
    bodies = [_condensed(source, k, room, limits) for k, source in enumerate(sources)]
    return "\n\n".join(f"{head}\n{body}" for head, body in zip(heads, bodies, strict=True))


def _condensed(source: Source, index: int, room: int, limits: comparing.Limits) -> str:
    text = source.text.strip()
    if len(text) <= room:
        return text
    candidates, _ = comparing.central_sentences(source, index, limits)
    chosen, used = [], 0
    for sentence in sorted(candidates, key=lambda s: -s.score):
        if used + len(sentence.text) + len(_GAP) <= room:  # as if a gap came before each
            chosen.append(sentence)
            used += len(sentence.text) + len(_GAP)
    chosen.sort(key=lambda s: s.position)
    out, last = "", None
    for sentence in chosen:
        gap = last is None or sentence.position != last + 1
        out += (_GAP if out and gap else " " if out else "") + sentence.text
        last = sentence.position
    return out


async def _by_model(
    sources: list[Source], offline: comparing.Comparison, ctx: StepContext
) -> tuple[dict[str, Any] | None, str | None]:
    settings = ctx.settings
    budget = settings.compare_llm_input_max_chars
    prompt = await asyncio.to_thread(model_input, sources, budget, limits(settings))
    reply = await ask_json(
        llm_settings(),
        PROMPT,
        prompt,
        max_tokens=settings.compare_llm_max_tokens,
        timeout_s=settings.compare_llm_timeout_s,
    )
    ctx.usage = reply.usage
    if reply.data is None:
        return None, reply.problem
    keys, only, shared, summary = _read(reply.data, len(sources))
    if not summary and not any(keys):
        return None, "the model's JSON held no key points and no summary"
    reports = [_text(t, keys[k], only[k]) for k, t in enumerate(offline.texts)]
    summary = summary or _summary_of(reports, shared)
    return {
        "summary": summary,
        "texts": reports,
        "shared": shared,
        "shared_terms": offline.shared_terms,
        "method": "llm",
        "model": reply.usage["model"],
    }, None


def _strings(value: object) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def _per_text(items: object, field: str, count: int) -> list[list[str]]:
    """{"source": n, field: [...]} entries as one list per text (by number, else in order)."""
    found: list[list[str]] = [[] for _ in range(count)]
    for k, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        number = item.get("source")
        slot = number - 1 if isinstance(number, int) and 1 <= number <= count else k
        if slot < count:
            found[slot].extend(_strings(item.get(field)))
    return found


def _read(data: dict[str, Any], count: int) -> tuple[list[list[str]], list[list[str]], list[str], str]:
    summary = data.get("summary")
    keys = _per_text(data.get("texts"), "key_points", count)
    only = _per_text(data.get("differences"), "points", count)
    return keys, only, _strings(data.get("shared")), summary.strip() if isinstance(summary, str) else ""


def _summary_of(reports: list[dict[str, Any]], shared: list[str]) -> str:
    lines = [f"Compared {len(reports)} texts."]
    if shared:
        lines.append("Shared: " + "; ".join(shared) + ".")
    for n, report in enumerate(reports, 1):
        if report["key_points"]:
            lines.append(f"Text {n}: " + "; ".join(report["key_points"]) + ".")
    return " ".join(lines)
