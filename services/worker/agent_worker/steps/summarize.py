"""summarize: a summary of extract_text's text, or of the text a task carries itself.

With LLM_PROVIDER=offline (the default) the summary is extractive. With a real provider the
configured model writes it and its token usage is recorded on the step (ctx.usage) and
charged to the task owner's daily token budget; when the model fails (or the budget is
spent), the extractive summary is used and the model's error is kept beside it."""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from agent_common import summarizer
from agent_common.llm import LLMError, LLMSettings
from agent_common.llm.budget import TokenBudget
from agent_common.llm.summary import summarize_with_llm
from agent_worker.steps import StepContext, StepError, StepInput, missing, present, why_missing

log = logging.getLogger("agent.worker.summarize")


@lru_cache
def llm_settings() -> LLMSettings:
    """The LLM knobs from the environment (provider, model, keys, timeouts, prices)."""
    return LLMSettings()


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    text, title = source(params, inputs)
    output = await _summary(text, title, ctx)
    urls = [i.output.get("url") for i in present(inputs) if i.output and isinstance(i.output.get("url"), str)]
    if urls:  # the page it summarizes, for a join that names its sources
        output["url"] = urls[0]
    if missing(inputs):
        output["missing"] = missing(inputs)
    return output


async def _summary(text: str, title: str | None, ctx: StepContext) -> dict[str, Any]:
    llm_error = None
    if ctx.settings.llm_provider != "offline":
        try:
            return await _by_model(text, title, ctx)
        except LLMError as exc:
            log.warning(
                "LLM summary of task %s failed, using the extractive one: %s", ctx.task_id, exc.detail
            )
            llm_error = exc.detail
    output = await _extractive(text, title, ctx)
    if llm_error:
        output["llm_error"] = llm_error
    return output


async def _by_model(text: str, title: str | None, ctx: StepContext) -> dict[str, Any]:
    settings = llm_settings()
    budget = (
        TokenBudget(
            ctx.redis, settings.llm_daily_token_budget, on_redis_error=settings.llm_budget_on_redis_error
        )
        if ctx.redis is not None
        else None
    )
    result = await summarize_with_llm(settings, text, title, budget=budget, user_id=ctx.user_id)
    ctx.usage = result.usage
    words = summarizer.word_count(text)
    minutes = max(1, round(words / ctx.settings.reading_words_per_minute)) if words else 0
    # the extractive summary's head (agent_common.summarizer), so results read alike
    head = f"Summary: {words} word{'' if words == 1 else 's'}, about {minutes} min read."
    return {
        "summary": f"{head} {result.text}",
        "sentences": [],
        "word_count": words,
        "reading_minutes": minutes,
        "title": title,
        "method": "llm",
        "model": result.usage["model"],
    }


async def _extractive(text: str, title: str | None, ctx: StepContext) -> dict[str, Any]:
    settings = ctx.settings
    summary = await asyncio.to_thread(
        summarizer.summarize,
        text,
        title=title,
        min_sentences=settings.summary_min_sentences,
        max_sentences=settings.summary_max_sentences,
        words_per_minute=settings.reading_words_per_minute,
    )
    return {
        "summary": summary.summary,
        "sentences": summary.sentences,
        "word_count": summary.word_count,
        "reading_minutes": summary.reading_minutes,
        "title": title,
        "method": "extractive",
    }


def source(params: dict[str, Any], inputs: list[StepInput] | None) -> tuple[str, str | None]:
    """The text and title: extract_text's output (several inputs' texts one after another,
    the first's title), else the task's own {"text": ...}."""
    texts = [t for i in present(inputs) if isinstance(t := (i.output or {}).get("text"), str) and t.strip()]
    if texts:
        return "\n\n".join(texts), _title(present(inputs)[0].output or {})
    text = params.get("text")
    if isinstance(text, str) and text.strip():
        return text, _title(params)
    if missing(inputs):
        raise StepError(f"nothing to summarize: {why_missing(inputs)}")
    raise StepError("nothing to summarize: the text is empty")


def _title(origin: dict[str, Any]) -> str | None:
    title = origin.get("title")
    return title if isinstance(title, str) and title.strip() else None
