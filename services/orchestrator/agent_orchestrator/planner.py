"""The rule planner (the offline default, and the fallback of the model planner).

- "Summarize and compare https://a, https://b and https://c": one fetch_url -> extract_text
  branch per URL, joined by `compare`;
- "What does https://a say about X?": fetch_url -> extract_text -> `answer` (the request is
  the question; several URLs give several branches into one answer);
- "Summarize https://a and https://b": a fetch -> extract -> summarize branch per URL, put
  together by `combine` (one section per page, in the request's order);
- one URL: fetch_url -> extract_text -> summarize, as always;
- text without a URL: that text summarized.
With several branches, each branch is optional: a page that cannot be fetched leaves the
others to finish, and the joining step says which one is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent_common import tools
from agent_common.plans import PlanStep
from agent_common.urls import find_urls

_COMPARE = re.compile(
    r"\b(compar\w*|contrast\w*|differ\w*|versus|vs\.?|similar\w*|in common|side[- ]by[- ]side"
    r"|which (one |of them |is )?(is )?better)\b",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^\W*(what|who|whom|whose|when|where|why|how|which|is|are|was|were|does|do|did|can|could|should"
    r"|will|would|has|have|according to|find out|tell me|explain)\b",
    re.IGNORECASE,
)
_QUESTION_INSIDE = re.compile(
    r"\b(say|says|said|tell|tells|mention|mentions|claim|claims|report|reports)\s+(me\s+)?about\b"
    r"|\baccording to\b|\banswer\b|\?",
    re.IGNORECASE,
)
_SUMMARY = re.compile(
    r"\b(summar\w*|tl;?dr|gist|overview|digest|recap|sum (it |this |them )?up"
    r"|(key|main) (points|ideas))\b",
    re.IGNORECASE,
)
# what makes a question more than a polite way to ask for a summary ("Can you summarize ...?")
_SPECIFIC = re.compile(
    r"\b(about|regarding|concerning|according to|who|when|where|why|which|whose|whom"
    r"|how (many|much|long|often|old|far|does|do|did|is|are|was|were))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RulePlan:
    steps: list[PlanStep]
    intent: str  # summary, summaries, compare, answer, text
    note: str | None = None  # e.g. URLs left out by the fetch limit
    urls: list[str] = field(default_factory=list)


def intent(description: str, urls: list[str]) -> str:
    """What the request asks for."""
    if not urls:
        return "text"
    words = _without_urls(description, urls)
    if len(urls) >= 2 and _COMPARE.search(words):
        return "compare"
    question = _QUESTION_START.search(words) or _QUESTION_INSIDE.search(words)
    if question and (not _SUMMARY.search(words) or _SPECIFIC.search(words)):
        return "answer"
    return "summary" if len(urls) == 1 else "summaries"


def plan_request(description: str, max_fetches: int) -> RulePlan:
    urls = find_urls(description)
    kind = intent(description, urls)
    if kind == "text":
        return RulePlan([PlanStep("summarize", {"text": description}, "summarize_1")], kind)
    used, note = urls[:max_fetches], None
    if len(urls) > max_fetches:
        note = f"the request names {len(urls)} URLs; the first {max_fetches} are read (PLAN_MAX_FETCHES)"
    optional = len(used) > 1  # one page missing leaves the others to report on
    steps: list[PlanStep] = []
    ends: list[str] = []
    for n, url in enumerate(used, 1):
        steps.append(PlanStep("fetch_url", {"url": url}, f"fetch_{n}", (), optional))
        steps.append(PlanStep("extract_text", {}, f"extract_{n}", (f"fetch_{n}",), optional))
        ends.append(f"extract_{n}")
        if kind in ("summary", "summaries"):
            steps.append(PlanStep("summarize", {}, f"summarize_{n}", (f"extract_{n}",), optional))
            ends[-1] = f"summarize_{n}"
    if kind == "compare":
        steps.append(PlanStep("compare", {}, "compare", tuple(ends)))
    elif kind == "answer":
        question = description.strip()[: tools.MAX_QUESTION_CHARS]
        steps.append(PlanStep("answer", {"question": question}, "answer", tuple(ends)))
    elif kind == "summaries":
        steps.append(PlanStep("combine", {}, "combine", tuple(ends)))
    return RulePlan(steps, kind, note, used)


def plan(description: str, max_fetches: int = 5) -> list[PlanStep]:
    """The rule plan's steps (see plan_request for its intent and note)."""
    return plan_request(description, max_fetches).steps


def _without_urls(text: str, urls: list[str]) -> str:
    for url in urls:
        text = text.replace(url, " ")
    return text
