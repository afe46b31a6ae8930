"""The default planner: a description with a URL becomes fetch_url -> extract_text ->
summarize; text without a URL is summarized directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_common.urls import find_url


@dataclass(frozen=True)
class PlannedStep:
    type: str
    params: dict[str, Any] = field(default_factory=dict)


def plan(description: str) -> list[PlannedStep]:
    url = find_url(description)
    if url:
        return [PlannedStep("fetch_url", {"url": url}), PlannedStep("extract_text"), PlannedStep("summarize")]
    return [PlannedStep("summarize", {"text": description})]
