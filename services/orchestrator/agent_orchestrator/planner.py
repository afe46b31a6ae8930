"""The default planner: a description with a URL becomes fetch_url -> extract_text ->
summarize; text without a URL is summarized directly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# http(s) URLs (an IPv6 host in brackets included) up to whitespace, a bracket or a quote;
# trailing punctuation is the sentence's, not the URL's ("Summarize https://x.org/a.")
_URL = re.compile(r"https?://(?:\[[0-9a-f:.%]+\])?[^\s<>\"'(){}\[\]]*", re.IGNORECASE)
_TRAILING = ".,;:!?"


@dataclass(frozen=True)
class PlannedStep:
    type: str
    params: dict[str, Any] = field(default_factory=dict)


def find_url(text: str) -> str | None:
    match = _URL.search(text)
    if not match:
        return None
    url = match.group(0).rstrip(_TRAILING)
    return url if len(url) > len("https://") else None


def plan(description: str) -> list[PlannedStep]:
    url = find_url(description)
    if url:
        return [PlannedStep("fetch_url", {"url": url}), PlannedStep("extract_text"), PlannedStep("summarize")]
    return [PlannedStep("summarize", {"text": description})]
