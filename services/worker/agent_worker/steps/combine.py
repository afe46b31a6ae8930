"""combine: the results of several steps put together, one section per source, in the
plan's order (the rule planner's join of parallel summaries). Inputs that are missing (an
optional branch that failed) are listed, so the reader knows what the result lacks."""

from __future__ import annotations

from typing import Any

from agent_worker.results import render
from agent_worker.steps import StepContext, StepError, StepInput, missing, present, why_missing


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    found = present(inputs)
    if not found:
        raise StepError(f"nothing to combine: {why_missing(inputs) or 'no inputs'}")
    sections = [_section(i) for i in found]
    text = "\n\n".join(_heading(n, s) + s["text"] for n, s in enumerate(sections, 1))
    return {"summary": text, "sections": sections, "missing": missing(inputs)}


def _section(item: StepInput) -> dict[str, Any]:
    output = item.output or {}
    title, url = output.get("title"), output.get("url")
    return {
        "step_id": item.step_id,
        "title": title if isinstance(title, str) else None,
        "url": url if isinstance(url, str) else None,
        "text": render(item.type, output),
    }


def _heading(n: int, section: dict[str, Any]) -> str:
    name = section["title"] or section["url"] or section["step_id"]
    where = f" ({section['url']})" if section["url"] and section["title"] else ""
    return f"{n}. {name}{where}\n"
