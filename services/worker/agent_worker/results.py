"""A task's result: its final step's output as one string, which every client can show
(the page, agentctl, and older clients that read only `result`)."""

from __future__ import annotations

from typing import Any


def render(tool: str, output: dict[str, Any]) -> str:
    if tool == "answer":
        return _answer(output)
    return _missing(_text(output), output)


def _text(output: dict[str, Any]) -> str:
    for key in ("summary", "result", "answer", "text"):
        value = output.get(key)
        if isinstance(value, str):
            return value
    return ""


def _answer(output: dict[str, Any]) -> str:
    """The answer, then each citation: the quote and the page it comes from."""
    lines = [str(output.get("answer") or "")]
    citations = [c for c in output.get("citations") or [] if isinstance(c, dict)]
    if citations:
        lines += ["", "Sources:"]
        lines += [
            f"[{n}] \u201c{c.get('quote', '')}\u201d \u2014 {c.get('url', '')}"
            for n, c in enumerate(citations, 1)
        ]
    return _missing("\n".join(lines), output)


def _missing(text: str, output: dict[str, Any]) -> str:
    """Say which inputs the step had to do without (an optional branch that failed)."""
    missing = [m for m in output.get("missing") or [] if isinstance(m, dict)]
    if not missing or "Not available:" in text:
        return text
    lines = [f"- {m.get('step_id')}: {m.get('error')}" for m in missing]
    return "\n".join([text, "", "Not available:", *lines])
