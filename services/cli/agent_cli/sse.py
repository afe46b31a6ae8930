"""Server-Sent Events from an httpx response: (event name, parsed JSON data) pairs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    name, data = "message", list[str]()
    async for line in response.aiter_lines():
        if not line:  # a blank line ends an event
            if data:
                yield name, _parse("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue  # a comment (keep-alive)
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data:
        yield name, _parse("\n".join(data))


def _parse(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
