"""Stand-ins for the external LLM APIs: real HTTP servers on 127.0.0.1 that speak the
OpenAI Chat Completions and the Anthropic Messages wire formats (JSON answers, SSE
streams with usage, tool calls), so the official SDKs in the services under test talk to
them exactly as to the real APIs.

Each records the requests it got and the usage it reported, and has switchable failure
modes:
  ok        answer normally
  401       refuse the API key          429  rate limit (Retry-After: 7)
  500       internal error              529  overloaded (Anthropic's status; 503 for OpenAI)
  timeout   answer nothing for `hang_s` seconds
  broken    stream (or send) part of the answer, then drop the connection
  stall     stream part of the answer, then go quiet for `hang_s` seconds
A streamed answer that the client closes early is counted in `disconnects`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "test-key"


@dataclass
class Reply:
    """What the stand-in answers next: text and/or tool calls (name, arguments)."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chunk_delay_s: float = 0.0  # pause before each streamed chunk


class ClientGone(Exception):
    """The client closed the connection while we were still sending."""


def words(text: str) -> int:
    return len(text.split())


def chunks_of(text: str) -> list[str]:
    """Word-sized pieces that join back to exactly `text`."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


class StandIn:
    """The shared server machinery: threads, recording, failure modes, chunked SSE."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK, about 40 ms per answer
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.handle(self, self.path, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- control, for tests --------------------------------------------------------------

    def reset(self) -> None:
        """Back to normal; answers still in flight from before no longer count."""
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.mode = "ok"
            self.hang_s = 4.0
            self.replies: deque[Reply] = deque()
            self.requests: list[dict[str, Any]] = []
            self.headers: list[dict[str, str]] = []
            self.usage_sent: list[tuple[int, int]] = []
            self.disconnects = 0
            self.completed_streams = 0

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- request handling -----------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
            mode = self.mode
            generation = self.generation
            reply = self.replies.popleft() if self.replies else None
        if not self.authorized(h) or mode == "401":
            self.send_json(h, 401, self.error_body(401))
            return
        if mode in ("429", "500", "529"):
            status = int(mode)
            extra = {"Retry-After": "7"} if status == 429 else {}
            self.send_json(h, self.wire_status(status), self.error_body(status), extra)
            return
        if mode == "timeout":
            time.sleep(self.hang_s)
        reply = reply or self.default_reply(body)
        usage = (self.prompt_tokens(body), words(reply.text) + sum(len(a) for _, a in reply.tool_calls))
        with self.lock:
            if generation == self.generation:  # a hung answer from before a reset() does not count
                self.usage_sent.append(usage)
        try:
            if body.get("stream"):
                if self.stream(h, body, reply, usage, mode):
                    self.count("completed_streams", generation)
            else:
                self.answer(h, body, reply, usage, mode)
        except ClientGone:
            self.count("disconnects", generation)

    def count(self, counter: str, generation: int) -> None:
        with self.lock:
            if generation == self.generation:
                setattr(self, counter, getattr(self, counter) + 1)

    def default_reply(self, body: dict[str, Any]) -> Reply:
        """After a tool result, repeat it; else answer the last user text."""
        last = self.last_message_text(body)
        if self.last_is_tool_result(body):
            return Reply(f"The tool answered: {last}")
        return Reply(f"Stand-in answer to: {last}")

    def answer(
        self, h: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply, usage: tuple[int, int], mode: str
    ) -> None:
        payload = json.dumps(self.message_body(body, reply, usage)).encode()
        if mode == "broken":  # promise the whole body, send half, hang up
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload[: len(payload) // 2])
            h.wfile.flush()
            self.hang_up(h)
            return
        self.send_json(h, 200, payload)

    def stream(
        self, h: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply, usage: tuple[int, int], mode: str
    ) -> bool:
        """Send the answer as SSE; False when it was cut off on purpose (broken)."""
        events = self.stream_events(body, reply, usage)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        cut = max(2, len(events) // 2)
        for i, event in enumerate(events):
            if i == cut and mode == "broken":
                self.hang_up(h)
                return False
            if i == cut and mode == "stall":
                time.sleep(self.hang_s)
            if reply.chunk_delay_s:
                time.sleep(reply.chunk_delay_s)
            self.write_chunk(h, event.encode())
        self.write_chunk(h, b"")
        return True

    # ---- wire helpers ---------------------------------------------------------------------

    @staticmethod
    def write_chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
        try:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientGone from exc

    @staticmethod
    def hang_up(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def send_json(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes | dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            h.send_header(key, value)
        h.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(data)

    @staticmethod
    def sse(data: dict[str, Any] | str, event: str | None = None) -> str:
        text = data if isinstance(data, str) else json.dumps(data)
        return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"

    # ---- per API ---------------------------------------------------------------------------

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        raise NotImplementedError

    def wire_status(self, status: int) -> int:
        return status

    def error_body(self, status: int) -> dict[str, Any]:
        raise NotImplementedError

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        raise NotImplementedError

    def last_message_text(self, body: dict[str, Any]) -> str:
        raise NotImplementedError

    def last_is_tool_result(self, body: dict[str, Any]) -> bool:
        raise NotImplementedError

    def message_body(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> list[str]:
        raise NotImplementedError


class OpenAIStandIn(StandIn):
    """POST /v1/chat/completions, as OpenAI (and Ollama, vLLM, llama.cpp) answer it."""

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        return h.headers.get("Authorization") == f"Bearer {self.api_key}"

    def wire_status(self, status: int) -> int:
        return 503 if status == 529 else status

    def error_body(self, status: int) -> dict[str, Any]:
        kinds = {
            401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
            429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
            500: ("server_error", None, "The server had an error while processing your request."),
            529: ("server_error", None, "The engine is currently overloaded."),
        }
        kind, code, message = kinds[status]
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    @staticmethod
    def texts(body: dict[str, Any]) -> list[str]:
        return [m.get("content") or "" for m in body.get("messages", []) if isinstance(m.get("content"), str)]

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        return sum(words(t) for t in self.texts(body)) + 1

    def last_message_text(self, body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        return str(messages[-1].get("content") or "") if messages else ""

    def last_is_tool_result(self, body: dict[str, Any]) -> bool:
        messages = body.get("messages", [])
        return bool(messages) and messages[-1].get("role") == "tool"

    def message_body(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }

    def stream_events(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> list[str]:
        base = {
            "id": "chatcmpl-standin",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            return self.sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in chunks_of(reply.text)]
        for i, (name, args) in enumerate(reply.tool_calls):
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            raw = json.dumps(args)
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
        events.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                self.sse(
                    {
                        **base,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": usage[0],
                            "completion_tokens": usage[1],
                            "total_tokens": sum(usage),
                        },
                    }
                )
            )
        events.append(self.sse("[DONE]"))
        return events


class AnthropicStandIn(StandIn):
    """POST /v1/messages, as Anthropic answers it."""

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        # the key travels as x-api-key (older SDKs) or as a bearer token (current ones)
        return self.api_key in (h.headers.get("x-api-key"), h.headers.get("Authorization", "")[7:])

    def error_body(self, status: int) -> dict[str, Any]:
        kinds = {
            401: ("authentication_error", "invalid x-api-key"),
            429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit"),
            500: ("api_error", "Internal server error"),
            529: ("overloaded_error", "Overloaded"),
        }
        kind, message = kinds[status]
        return {"type": "error", "error": {"type": kind, "message": message}}

    @staticmethod
    def texts(body: dict[str, Any]) -> list[str]:
        out = [body["system"]] if isinstance(body.get("system"), str) else []
        for m in body.get("messages", []):
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
                continue
            for block in content or []:
                if block.get("type") == "text":
                    out.append(block["text"])
                elif block.get("type") == "tool_result" and isinstance(block.get("content"), str):
                    out.append(block["content"])
        return out

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        return sum(words(t) for t in self.texts(body)) + 1

    def last_message_text(self, body: dict[str, Any]) -> str:
        texts = self.texts({"messages": body.get("messages", [])[-1:]})
        return texts[-1] if texts else ""

    def last_is_tool_result(self, body: dict[str, Any]) -> bool:
        messages = body.get("messages", [])
        content = messages[-1].get("content") if messages else None
        return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)

    def message_body(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [
            {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        return {
            "id": "msg_standin",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }

    def stream_events(self, body: dict[str, Any], reply: Reply, usage: tuple[int, int]) -> list[str]:
        start = {
            "id": "msg_standin",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1},
        }
        events = [
            self.sse({"type": "message_start", "message": start}, "message_start"),
            self.sse({"type": "ping"}, "ping"),
        ]
        index = 0
        if reply.text:
            events.append(self.block_start(index, {"type": "text", "text": ""}))
            events += [
                self.block_delta(index, {"type": "text_delta", "text": p}) for p in chunks_of(reply.text)
            ]
            events.append(self.sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        for i, (name, args) in enumerate(reply.tool_calls):
            events.append(
                self.block_start(index, {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}})
            )
            raw = json.dumps(args)
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                events.append(self.block_delta(index, {"type": "input_json_delta", "partial_json": part}))
            events.append(self.sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        events.append(
            self.sse(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
                        "stop_sequence": None,
                    },
                    "usage": {"output_tokens": usage[1]},
                },
                "message_delta",
            )
        )
        events.append(self.sse({"type": "message_stop"}, "message_stop"))
        return events

    def block_start(self, index: int, block: dict[str, Any]) -> str:
        return self.sse(
            {"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"
        )

    def block_delta(self, index: int, delta: dict[str, Any]) -> str:
        return self.sse(
            {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
        )
