"""Actions the assistant can take for the user: start a task, look at a task. Both call the
orchestrator as the same user (X-User-Id) through one pooled HTTP client."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from agent_common.llm import ToolCall, ToolSpec

log = logging.getLogger("agent.chat.tools")

TOOL_SPECS = (
    ToolSpec(
        "create_task",
        "Start a background task for the user. A description holding a URL fetches that page and "
        "summarizes it; a description without a URL is itself the text to summarize. Returns the task id.",
        {
            "type": "object",
            "properties": {
                "title": {
                    "type": "string",
                    "description": "a short title, e.g. 'Summarize example.org/post'",
                },
                "description": {
                    "type": "string",
                    "description": "what to do: the URL, or the text to summarize",
                },
            },
            "required": ["title", "description"],
        },
    ),
    ToolSpec(
        "get_task",
        "Look up one of the user's tasks by id: its status, steps, result or error.",
        {
            "type": "object",
            "properties": {"task_id": {"type": "string", "description": "the task's UUID"}},
            "required": ["task_id"],
        },
    ),
)


class ToolFailure(Exception):
    """A tool could not do its job; the message is for the user (and the model)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    name: str
    ok: bool
    data: dict[str, Any]

    def for_model(self, max_chars: int) -> str:
        text = json.dumps(self.data, default=str)
        return text if len(text) <= max_chars else text[: max_chars - 15] + " ... (truncated)"


class Orchestrator:
    """The orchestrator's task API, called as the chatting user."""

    def __init__(self, base_url: str, *, timeout_s: float, max_connections: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def create_task(self, user_id: str, title: str, description: str) -> dict[str, Any]:
        body = {"title": title, "description": description}
        response = await self._call("POST", "/task", user_id, json=body)
        if response.status_code != 202:
            raise ToolFailure(f"the task was refused: {_detail(response)}")
        return dict(response.json())

    async def get_task(self, user_id: str, task_id: str) -> dict[str, Any] | None:
        """The task, or None when this user has no task with that id."""
        try:
            uuid.UUID(task_id)
        except ValueError:
            return None
        response = await self._call("GET", f"/task/{task_id}", user_id)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ToolFailure(f"the task service answered {response.status_code}: {_detail(response)}")
        return dict(response.json())

    async def _call(self, method: str, path: str, user_id: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, headers={"X-User-Id": user_id}, **kwargs)
        except httpx.TimeoutException as exc:
            raise ToolFailure("the task service did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("orchestrator call failed: %s", exc.__class__.__name__)
            raise ToolFailure("the task service is unreachable right now") from exc


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict)) or str(detail)
    return str(detail)


async def run_tool(orchestrator: Orchestrator, user_id: str, call: ToolCall) -> ToolResult:
    """Run one tool call from the model; failures become results the model can explain."""
    args = call.arguments
    try:
        if call.name == "create_task":
            title, description = _text(args, "title"), _text(args, "description")
            created = await orchestrator.create_task(user_id, title[:200], description)
            return ToolResult(call.name, True, {**created, "note": "progress shows under Tasks in the page"})
        if call.name == "get_task":
            task = await orchestrator.get_task(user_id, _text(args, "task_id"))
            if task is None:
                return ToolResult(call.name, False, {"error": "no task with that id for this user"})
            return ToolResult(call.name, True, task)
        return ToolResult(call.name, False, {"error": f"unknown tool {call.name!r}"})
    except ToolFailure as exc:
        return ToolResult(call.name, False, {"error": str(exc)})


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolFailure(f"the argument {name!r} must be a non-empty string")
    return value.strip()
