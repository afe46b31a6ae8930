"""answer: answers params["question"] from the texts of the steps it depends on.

Result: {"answer", "citations": [{"url", "quote"}], ...}, every quote a sentence of the page
at its URL. Offline (LLM_PROVIDER=offline) the best-matching sentences are the answer
(agent_worker.answering). With a model, the model answers and cites; only citations whose
quote occurs in a source are kept (as that source's whole sentence). When the model fails or
none of its quotes check out, the offline answer is given, with the model's error beside it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent_worker import answer_llm, answering
from agent_worker.answering import Answer, Limits, Source
from agent_worker.modeljson import ask_json, model_or_offline
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepError, StepInput, missing, present, why_missing
from agent_worker.steps.summarize import llm_settings


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    question = params.get("question")
    if not isinstance(question, str) or not question.strip():
        raise StepError("answer needs a question (params.question)")
    sources = texts(params, inputs)
    if not sources:
        raise StepError(f"nothing to answer from: {why_missing(inputs) or 'no text was given'}")
    output = await _answer(question.strip(), sources, ctx)
    output["question"] = question.strip()
    output["sources"] = [{"url": s.url, "title": s.title} for s in sources]
    if missing(inputs):
        output["missing"] = missing(inputs)
    return output


def texts(params: dict[str, Any], inputs: list[StepInput]) -> list[Source]:
    """The texts to answer from: each input's extracted text, and a text the task carries."""
    found = []
    for origin in [i.output or {} for i in present(inputs)] + [params]:
        text = origin.get("text")
        if isinstance(text, str) and text.strip():
            url, title = origin.get("url"), origin.get("title")
            found.append(
                Source(
                    text,
                    url if isinstance(url, str) else None,
                    title if isinstance(title, str) and title.strip() else None,
                )
            )
    return found


def limits(settings: WorkerSettings) -> Limits:
    return Limits(
        max_citations=settings.answer_max_citations,
        max_answer_sentences=settings.answer_max_sentences,
        min_relative_score=settings.answer_min_relative_score,
        rank_candidates=settings.answer_rank_candidates,
        max_sentence_words=settings.answer_max_sentence_words,
    )


async def _answer(question: str, sources: list[Source], ctx: StepContext) -> dict[str, Any]:
    async def offline() -> dict[str, Any]:
        found = await asyncio.to_thread(answering.answer, question, sources, limits(ctx.settings))
        return _shape(found, "extractive")

    return await model_or_offline(
        ctx.settings.llm_provider, lambda: _by_model(question, sources, ctx), offline, "answer", ctx.task_id
    )


async def _by_model(
    question: str, sources: list[Source], ctx: StepContext
) -> tuple[dict[str, Any] | None, str | None]:
    """The model's answer with its checked citations, or (None, why it is not used)."""
    settings = ctx.settings
    prompt = await asyncio.to_thread(
        answer_llm.model_input,
        question,
        sources,
        settings.answer_llm_input_max_chars,
        settings.answer_llm_chunk_chars,
    )
    reply = await ask_json(
        llm_settings(),
        answer_llm.PROMPT,
        prompt,
        max_tokens=settings.answer_llm_max_tokens,
        timeout_s=settings.answer_llm_timeout_s,
    )
    ctx.usage = reply.usage  # spent whether or not the answer is used
    if reply.data is None:
        return None, reply.problem
    text, quotes = _read(reply.data)
    if not text:
        return None, "the model's JSON held no answer"
    citations, dropped = await asyncio.to_thread(
        answer_llm.verified, quotes, sources, settings.answer_min_quote_words
    )
    if not citations:
        return None, (
            f"none of the model's {len(quotes)} quotes occur in the sources"
            if quotes
            else "the model cited no sentence of the sources"
        )
    output = _shape(Answer(text, citations[: settings.answer_max_citations], True), "llm")
    output["model"] = reply.usage["model"]
    if dropped:
        output["dropped_citations"] = dropped
    return output, None


def _read(data: dict[str, Any]) -> tuple[str, list[tuple[int | None, str]]]:
    """The answer text and the (source number, quote) pairs of the model's JSON."""
    text = data.get("answer")
    quotes = []
    for item in data.get("citations") or []:
        if isinstance(item, dict) and isinstance(item.get("quote"), str):
            number = item.get("source")
            quotes.append((number if isinstance(number, int) else None, item["quote"]))
        elif isinstance(item, str):
            quotes.append((None, item))
    return (text.strip() if isinstance(text, str) else ""), quotes


def _shape(found: Answer, method: str) -> dict[str, Any]:
    return {
        "answer": found.answer,
        "citations": [{"url": c.url, "quote": c.quote} for c in found.citations],
        "found": found.found,
        "method": method,
    }
