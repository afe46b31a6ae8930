"""Small helpers for the chat tests: send a message, read an SSE stream, read the rows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

SSE = {"Accept": "text/event-stream"}


async def send(client: httpx.AsyncClient, user: str, message: Any, **kwargs: Any) -> httpx.Response:
    return await client.post("/chat", json={"message": message}, headers={"X-User-Id": user}, **kwargs)


@dataclass
class SSEEvent:
    name: str
    data: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class Stream:
    status: int
    content_type: str
    events: list[SSEEvent] = field(default_factory=list)

    def named(self, name: str) -> list[SSEEvent]:
        return [e for e in self.events if e.name == name]

    @property
    def text(self) -> str:
        return "".join(e.data["text"] for e in self.named("delta"))


def parse_events(buffer: str) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Complete events in `buffer` and the incomplete rest."""
    out = []
    while "\n\n" in buffer:
        raw, buffer = buffer.split("\n\n", 1)
        fields = dict(line.split(": ", 1) for line in raw.splitlines() if ": " in line)
        out.append((fields.get("event", "message"), json.loads(fields.get("data", "{}"))))
    return out, buffer


async def stream(
    client: httpx.AsyncClient, base_url: str, user: str, message: str, stop_after_deltas: int | None = None
) -> Stream:
    """POST /chat as SSE, reading the events as they arrive (stamped with arrival times).
    With stop_after_deltas, close the connection after that many deltas."""
    async with client.stream(
        "POST", f"{base_url}/chat", json={"message": message}, headers={"X-User-Id": user, **SSE}
    ) as response:
        result = Stream(response.status_code, response.headers.get("content-type", ""))
        if not result.content_type.startswith("text/event-stream"):
            await response.aread()
            result.events.append(SSEEvent("json", response.json(), time.monotonic()))
            return result
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            events, buffer = parse_events(buffer)
            for name, data in events:
                result.events.append(SSEEvent(name, data, time.monotonic()))
            if stop_after_deltas is not None and len(result.named("delta")) >= stop_after_deltas:
                return result  # leaving the block closes the connection mid-stream
    return result


async def rows(db: asyncpg.Pool, user: str) -> list[dict[str, Any]]:
    return [
        dict(r) for r in await db.fetch("SELECT * FROM chat_messages WHERE user_id = $1 ORDER BY id", user)
    ]
