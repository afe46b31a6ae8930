"""The offline assistant (LLM_PROVIDER=offline, the default): no model and no network
beyond our own orchestrator. It says plainly what it is and answers the few requests it
understands: greetings and help, "summarize <url>" (or a bare URL) by starting a task,
"status of task <id>", and pasted long text with an extractive summary."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit

from agent_chat.settings import ChatSettings
from agent_chat.tools import Orchestrator, ToolFailure, ToolResult
from agent_chat.turn import Event, Outcome
from agent_common import summarizer
from agent_common.urls import find_url

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_GREETING = re.compile(
    r"^\W*(hi|hello|hey|hallo|howdy|good (morning|afternoon|evening)|help|\?|what can you do|"
    r"who are you|what are you)\b",
    re.IGNORECASE,
)
_SUMMARIZE = re.compile(r"^\W*(please\s+)?(summari[sz]e|summary of|tl;?dr)\b[\s:,-]*", re.IGNORECASE)
_STATUS = re.compile(r"\b(status|progress|state|how is|how's|check)\b|^\W*task\b", re.IGNORECASE)

SETUP_HINT = (
    "To chat with a real model, set LLM_PROVIDER=openai with OPENAI_API_KEY (or LLM_BASE_URL="
    "http://localhost:11434/v1 for a local Ollama), or LLM_PROVIDER=anthropic with ANTHROPIC_API_KEY, "
    "and LLM_MODEL; then restart the chat service."
)
CAPABILITIES = (
    'I can summarize a web page ("summarize https://..."), summarize text you paste here, '
    'and tell you how a task is doing ("status of task <id>").'
)
# streamed answers come in pieces of this many words, as a model's would
_WORDS_PER_DELTA = 4


class OfflineTurn:
    def __init__(
        self, settings: ChatSettings, orchestrator: Orchestrator, user_id: str, message: str
    ) -> None:
        self.settings = settings
        self.orchestrator = orchestrator
        self.user_id = user_id
        self.message = message
        self.outcome = Outcome("offline", "offline")

    async def events(self, *, streaming: bool) -> AsyncGenerator[Event, None]:
        text, tool = await self.answer()
        if tool is not None:
            self.outcome.note_tool(tool)
            yield tool
        pieces = _pieces(text) if streaming else [text]
        for piece in pieces:
            yield self.outcome.add_text(piece)

    async def answer(self) -> tuple[str, ToolResult | None]:
        """The reply text, and the tool result when the reply started or read a task."""
        message = self.message
        url = find_url(message)
        rest = _SUMMARIZE.sub("", message, count=1)
        wants_summary = rest != message
        if url and (wants_summary or message.strip().rstrip(".,;:!?") == url):
            return await self.start_summary(url)
        task_id = _UUID.search(message)
        if task_id and (_STATUS.search(message) or message.strip() == task_id.group(0)):
            return await self.task_status(task_id.group(0))
        words = summarizer.word_count(rest)
        if words >= self.settings.chat_offline_summary_min_words or (wants_summary and words >= 20):
            return await self.summarize_text(rest), None
        if _GREETING.search(message):
            return self.greeting(), None
        if url:
            return (
                f"I'm the offline assistant, so I can't discuss pages, but I can summarize one: send "
                f'"summarize {url}". {SETUP_HINT}'
            ), None
        return (
            f"I'm the offline assistant (no language model is configured), so I can't answer that. "
            f"{CAPABILITIES} {SETUP_HINT}"
        ), None

    def greeting(self) -> str:
        return (
            f"Hello! I'm the offline assistant: no language model is configured, so I only understand "
            f"a few requests. {CAPABILITIES} {SETUP_HINT}"
        )

    async def start_summary(self, url: str) -> tuple[str, ToolResult | None]:
        parts = urlsplit(url)
        title = f"Summarize {parts.netloc}{parts.path}"[:200].rstrip("/")
        try:
            created = await self.orchestrator.create_task(self.user_id, title, f"Summarize {url}")
        except ToolFailure as exc:
            failed = ToolResult("create_task", False, {"error": str(exc)})
            return f"I couldn't start a task for {url}: {exc}.", failed
        task_id = created["task_id"]
        return (
            f"I started task {task_id} to summarize {url}. Its progress shows under Tasks; "
            f'ask me "status of task {task_id}" any time.'
        ), ToolResult("create_task", True, created)

    async def task_status(self, task_id: str) -> tuple[str, ToolResult | None]:
        try:
            task = await self.orchestrator.get_task(self.user_id, task_id)
        except ToolFailure as exc:
            failed = ToolResult("get_task", False, {"error": str(exc)})
            return f"I couldn't look up task {task_id}: {exc}.", failed
        if task is None:
            missing = ToolResult("get_task", False, {"error": "not found"})
            return f"I can't find a task {task_id} among yours.", missing
        return describe_task(task), ToolResult("get_task", True, task)

    async def summarize_text(self, text: str) -> str:
        s = self.settings
        summary = await asyncio.to_thread(
            summarizer.summarize,
            text,
            min_sentences=s.chat_summary_min_sentences,
            max_sentences=s.chat_summary_max_sentences,
            words_per_minute=s.reading_words_per_minute,
        )
        return f"Here is an extractive summary (offline: sentences picked from your text). {summary.summary}"


def describe_task(task: dict[str, Any]) -> str:
    head = f'Task {task["task_id"]} ("{task["title"]}") is {task["status"]}.'
    steps = task.get("steps") or []
    if task["status"] == "completed":
        return f"{head} Result: {task.get('result') or '(empty)'}"
    if task["status"] == "failed":
        return f"{head} Error: {task.get('error') or 'unknown'}"
    done = sum(1 for st in steps if st.get("status") == "completed")
    running = next((st["type"] for st in steps if st.get("status") == "processing"), None)
    progress = f" {done} of {len(steps)} steps done" + (f", {running} running." if running else ".")
    return head + (progress if steps else "")


def _pieces(text: str) -> list[str]:
    words = re.findall(r"\S+\s*", text)
    return ["".join(words[i : i + _WORDS_PER_DELTA]) for i in range(0, len(words), _WORDS_PER_DELTA)] or [
        text
    ]
