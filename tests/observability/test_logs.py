"""Logs: one JSON object per line with time, level, service, message, the trace and span
ids inside a span, the request id and a hash of the user; and never a secret. The traced
system runs with secrets seeded in its environment and an LLM stand-in that echoes the key
it refuses; every service's log file is then searched for each of them."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_common.logs import JsonFormatter, request_id_var, user_hash, user_var
from agent_common.redact import MASK, Redactor, configured_secrets
from tests.observability.conftest import Traced, wait_until

REQUIRED = {"time", "level", "service", "logger", "message"}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        try:
            out.append(json.loads(raw))
        except ValueError:
            pytest.fail(f"{path.name}:{n} is not JSON: {raw[:200]}")
    return out


def format_record(
    formatter: JsonFormatter, message: str, *args: object, exc: BaseException | None = None
) -> dict:  # type: ignore[type-arg]
    record = logging.LogRecord(
        "agent.test",
        logging.WARNING,
        __file__,
        1,
        message,
        args,
        (type(exc), exc, exc.__traceback__) if exc else None,
    )
    return json.loads(formatter.format(record))


# ---- the formatter and the redactor, in this process ---------------------------------------

SECRET_KEY = "sk-proj-" + "A1b2C3d4" * 5
DB_PASSWORD = "s3cr3t-db-Pa55"  # noqa: S105 - a made-up secret to look for
TOKEN = "Zq9_-" + "x" * 38  # the shape of secrets.token_urlsafe(32)


@pytest.fixture
def formatter() -> JsonFormatter:
    return JsonFormatter(
        "test",
        Redactor(
            configured_secrets(urls=[f"postgresql://agent:{DB_PASSWORD}@db:5432/agent"], keys=[SECRET_KEY])
        ),
    )


@pytest.mark.parametrize(
    "text",
    [
        f"connecting to postgresql://agent:{DB_PASSWORD}@db:5432/agent failed",
        "redis://:another-password-here@redis-service:6379/0 refused",
        f"the provider said: Incorrect API key provided: {SECRET_KEY}",
        "key sk-ant-api03-abcdefghijklmnop in a sentence",
        "Authorization: Bearer abc.def-ghi",
        f"cookie: session={TOKEN}; theme=dark",
        '{"api_key": "k-123456789", "password": "hunter22", "session_token": "zzz"}',
        f"token {TOKEN} pasted alone",
        f"the password itself: {DB_PASSWORD}",
    ],
)
def test_secrets_are_redacted_wherever_they_stand(formatter: JsonFormatter, text: str) -> None:
    entry = format_record(formatter, "%s", text)
    for secret in (
        DB_PASSWORD,
        "another-password-here",
        SECRET_KEY,
        "sk-ant-api03-abcdefghijklmnop",
        "abc.def-ghi",
        TOKEN,
        "k-123456789",
        "hunter22",
        "zzz",
    ):
        assert secret not in entry["message"]
    assert MASK in entry["message"]


def test_secrets_inside_exception_text_and_extras_are_redacted(formatter: JsonFormatter) -> None:
    try:
        raise ConnectionError(f"could not reach postgresql://agent:{DB_PASSWORD}@db/agent with {SECRET_KEY}")
    except ConnectionError as exc:
        entry = format_record(formatter, "failed", exc=exc)
    assert "ConnectionError" in entry["error"] and MASK in entry["error"]
    assert DB_PASSWORD not in json.dumps(entry) and SECRET_KEY not in json.dumps(entry)


def test_ordinary_text_is_left_alone(formatter: JsonFormatter) -> None:
    text = (
        "step fetch_url of 0b0e1c5e-8f5a-4c1d-9a57-5d4b2f7c8e11 answered HTTP 404 Not Found; "
        "prompt_tokens: 12, max_tokens=400, password authentication failed for user agent"
    )
    assert format_record(formatter, "%s", text)["message"] == text


def test_a_line_carries_request_id_user_hash_and_the_current_span(formatter: JsonFormatter) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    request_token, user_token = request_id_var.set("req-1"), user_var.set("user-42")
    try:
        with provider.get_tracer("test").start_as_current_span("work") as span:
            entry = format_record(formatter, "inside")
        outside = format_record(formatter, "outside")
    finally:
        request_id_var.reset(request_token)
        user_var.reset(user_token)
    (finished,) = exporter.get_finished_spans()
    assert (
        entry["trace_id"]
        == format(span.get_span_context().trace_id, "032x")
        == format(finished.context.trace_id, "032x")
    )
    assert entry["span_id"] == format(finished.context.span_id, "016x")
    assert entry["request_id"] == "req-1"
    assert entry["user"] == user_hash("user-42") and re.fullmatch(r"[0-9a-f]{12}", entry["user"])
    assert "user-42" not in json.dumps(entry)
    assert "trace_id" not in outside and "span_id" not in outside


def test_uncaught_exceptions_become_redacted_json_lines(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "from agent_common.logs import setup_logging\n"
        "from agent_common.settings import Settings\n"
        "setup_logging(Settings(service_name='crash'))\n"
        f"raise RuntimeError('lost connection to redis://:{DB_PASSWORD}@r:6379/0')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "critical" and entry["service"] == "crash"
    assert "RuntimeError" in entry["error"] and DB_PASSWORD not in line


# ---- the running services -------------------------------------------------------------------


def test_a_refused_key_is_logged_without_it_and_with_the_trace(traced: Traced) -> None:
    user, headers = traced.session()
    traced.llm.reset()
    traced.llm.mode = "400"
    try:
        answer = httpx.post(
            f"{traced.urls['gateway']}/api/chat", json={"message": "hello"}, headers=headers, timeout=30
        )
    finally:
        traced.llm.reset()
    assert answer.status_code == 502, answer.text
    assert traced.secrets.openai_key not in answer.text
    request_id = answer.headers["x-request-id"]
    chat_log = next(p for p in traced.processes if p.name == "chat").log_path

    def failure_line() -> dict | None:  # type: ignore[type-arg]
        return next(
            (
                e
                for e in lines(chat_log)
                if e.get("request_id") == request_id and "failed" in e["message"] and e["level"] == "warning"
            ),
            None,
        )

    entry = wait_until(failure_line, timeout=10)
    assert entry, f"no warning for request {request_id} in {chat_log}"
    assert "is not available to key" in entry["message"] and MASK in entry["message"]
    assert entry["user"] == user_hash(user)
    assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", entry["span_id"])
    (logged_in,) = wait_until(
        lambda: [s for s in traced.collector.trace(entry["trace_id"]) if s.span_id == entry["span_id"]],
        timeout=10,
    )
    assert logged_in.service == "chat"
    assert {s.service for s in traced.collector.trace(entry["trace_id"])} >= {"gateway", "chat"}


def test_every_line_of_every_service_is_json_and_holds_no_secret(traced: Traced) -> None:
    """After a task through the frontend (and whatever else ran before), every service has
    logged requests, sessions and steps, at DEBUG."""
    _, headers = traced.session()
    created = httpx.post(
        f"{traced.urls['frontend']}/api/task",
        headers=headers,
        timeout=10,
        json={"title": "logs", "description": "Summarize " + "words in a sentence. " * 40},
    )
    assert created.status_code == 202, created.text
    task_url = f"{traced.urls['gateway']}/api/tasks/{created.json()['task_id']}"
    assert wait_until(
        lambda: httpx.get(task_url, headers=headers, timeout=10).json()["status"] == "completed"
    )
    seeded = traced.secrets.all()
    for path in traced.log_files():
        text = path.read_text()
        for secret in seeded:
            assert secret not in text, f"{path.name} holds a secret ({secret[:6]}...)"
        entries = lines(path)
        assert entries, path
        for entry in entries:
            assert entry.keys() >= REQUIRED, (path.name, entry)
            assert TIME.fullmatch(entry["time"]) and entry["level"] in (
                "debug",
                "info",
                "warning",
                "error",
                "critical",
            )
            assert ("trace_id" in entry) == ("span_id" in entry), entry
            if "user" in entry:
                assert re.fullmatch(r"[0-9a-f]{12}", entry["user"]), entry
        assert {e["service"] for e in entries} == {path.stem}
    traced_lines = [e for p in traced.log_files() for e in lines(p) if "trace_id" in e]
    assert traced_lines, "no log line was written inside a span"
