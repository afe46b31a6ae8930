"""summarize: a summary of extract_text's text, or of the text a task carries itself."""

from __future__ import annotations

import asyncio
from typing import Any

from agent_common import summarizer
from agent_worker.steps import StepContext, StepError


async def run(params: dict[str, Any], previous: dict[str, Any] | None, ctx: StepContext) -> dict[str, Any]:
    text, title = source(params, previous)
    settings = ctx.settings
    # LLM SUMMARIES PLUG IN HERE (the chat issue adds the providers): when
    # settings.llm_provider != "offline", ask that provider for the summary, record its token
    # usage in ctx.usage, and return it with "method": "llm"; fall back to the extractive
    # summary below when the provider fails. Until then every provider gets the extractive one.
    summary = await asyncio.to_thread(
        summarizer.summarize, text, title=title,
        min_sentences=settings.summary_min_sentences, max_sentences=settings.summary_max_sentences,
        words_per_minute=settings.reading_words_per_minute,
    )
    return {"summary": summary.summary, "sentences": summary.sentences, "word_count": summary.word_count,
            "reading_minutes": summary.reading_minutes, "title": title, "method": "extractive"}


def source(params: dict[str, Any], previous: dict[str, Any] | None) -> tuple[str, str | None]:
    """The text and title: extract_text's output, else the task's own {"text": ...}."""
    for origin in (previous or {}, params):
        text = origin.get("text")
        if isinstance(text, str) and text.strip():
            title = origin.get("title")
            return text, title if isinstance(title, str) and title.strip() else None
    raise StepError("nothing to summarize: the text is empty")
