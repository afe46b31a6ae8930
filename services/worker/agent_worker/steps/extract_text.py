"""extract_text: the article's title and main text from the page fetch_url returned."""

from __future__ import annotations

import asyncio
from typing import Any

from agent_worker.extract import extract
from agent_worker.steps import StepContext, StepError, StepInput, first_output, missing, why_missing


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    # normally fetch_url's output; a task may also carry the page itself
    page = first_output(inputs) or params
    html = page.get("html")
    if not isinstance(html, str):
        if missing(inputs):
            raise StepError(f"extract_text has no page to read: {why_missing(inputs)}")
        raise StepError("extract_text needs a page to read: fetch_url's output with its 'html'")
    where = page.get("final_url") or page.get("url") or "the page"
    # trafilatura and lxml take tens of milliseconds a page: keep the event loop free
    result = await asyncio.to_thread(extract, html, page.get("content_type") or "text/html")
    if not result.text.strip():
        raise StepError(f"found no readable text on {where}")
    # the page's final URL goes along, so that text tools can cite it
    return {
        "title": result.title,
        "text": result.text,
        "word_count": result.word_count,
        "extractor": result.extractor,
        "url": page.get("final_url") or page.get("url"),
    }
