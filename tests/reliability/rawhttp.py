"""A minimal HTTP/1.1 client for the load test: one connection per request, as many
separate users would make. httpx with a thousand connections spends more time in its own
pool than the system under test does (42 requests/s against 640 with this client)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


async def request(
    base: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout: float = 60.0,
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON or text body); raises OSError or TimeoutError on no answer."""
    parts = urlsplit(base)
    body = json.dumps(json_body).encode() if json_body is not None else b""
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
            data = await reader.read()
        finally:
            writer.close()
    raw_head, _, payload = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    answer_headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if answer_headers.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    content = (
        json.loads(payload)
        if answer_headers.get("content-type", "").startswith("application/json")
        else payload.decode(errors="replace")
    )
    return status, answer_headers, content
