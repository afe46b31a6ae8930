"""One answer to one user message: what every kind of assistant (model or offline) yields
while answering, and what it leaves behind for the accounting."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol

from agent_chat.tools import ToolResult
from agent_common.llm import TextDelta, Usage

Event = TextDelta | ToolResult

# between the texts of two model calls in one answer (before and after a tool ran)
PARAGRAPH = "\n\n"


@dataclass
class Outcome:
    """Filled in while the turn runs; complete once its events are exhausted."""

    provider: str
    model: str
    parts: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tasks_started: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add_text(self, text: str) -> TextDelta:
        self.parts.append(text)
        return TextDelta(text)

    def note_tool(self, result: ToolResult) -> None:
        if result.ok and result.name == "create_task" and result.data.get("task_id"):
            self.tasks_started.append(str(result.data["task_id"]))


class Turn(Protocol):
    outcome: Outcome

    def events(self, *, streaming: bool) -> AsyncGenerator[Event, None]:
        """Text deltas (all of them join to outcome.text) and tool results, in order.
        Raises LLMError when the model fails."""
        ...
