"""One request, one trace, across every process: a chat that starts a task and a URL task
each arrive at the collector stand-in as a single trace whose spans cover the frontend's
proxy, the gateway, the service, the enqueue onto the Redis stream and every worker step,
with each span's parent in the same trace (no link broken at the Redis hop)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.observability.conftest import MODEL, Traced, wait_until
from tests.support.llm_standins import Reply
from tests.support.otlp import Span
from tests.support.pageserver import PageServer

STEPS = ["fetch_url", "extract_text", "summarize"]
QUEUE_ATTRIBUTES = {"messaging.system": "redis", "messaging.destination.name": "task_queue"}


def whole_trace(traced: Traced, task_id: str) -> list[Span]:
    """The trace holding the task's last step, once its spans stop arriving."""
    found = traced.collector.wait_for(
        lambda s: s.name == "step summarize" and s.attributes.get("agent.task_id") == task_id, timeout=30
    )
    assert len(found) == 1, f"the last step of {task_id} is in {len(found)} traces"
    (trace_id,) = found

    def settled() -> bool:
        before = len(traced.collector.trace(trace_id))
        time.sleep(0.5)  # five export intervals
        return len(traced.collector.trace(trace_id)) == before

    wait_until(settled, timeout=10)
    return traced.collector.trace(trace_id)


def assert_connected(spans: list[Span], root_service: str) -> None:
    ids = [s.span_id for s in spans]
    assert len(ids) == len(set(ids)), "span ids repeat"
    roots = [s for s in spans if not s.parent_id]
    assert [(r.service, r.kind) for r in roots] == [(root_service, "SERVER")], roots
    orphans = [s for s in spans if s.parent_id and s.parent_id not in set(ids)]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"


def assert_queue_hops(spans: list[Span], task_id: str) -> None:
    """enqueue (PRODUCER, orchestrator) -> step 0 -> step 1 -> step 2 (CONSUMER, worker)."""
    (producer,) = [s for s in spans if s.kind == "PRODUCER" and s.attributes.get("agent.task_id") == task_id]
    assert producer.service == "orchestrator" and producer.name == "send task_queue"
    assert QUEUE_ATTRIBUTES.items() <= producer.attributes.items()
    steps = sorted((s for s in spans if s.kind == "CONSUMER"), key=lambda s: s.attributes["agent.step.seq"])
    assert [s.name for s in steps] == [f"step {t}" for t in STEPS]
    parent = producer
    for seq, step in enumerate(steps):
        assert step.service == "worker" and step.attributes["agent.step.seq"] == seq
        assert step.attributes["agent.task_id"] == task_id
        assert step.attributes["agent.step.type"] == STEPS[seq]
        assert QUEUE_ATTRIBUTES.items() <= step.attributes.items()
        assert step.parent_id == parent.span_id, f"{step.name} does not follow {parent.name}"
        assert step.status != 2, step
        parent = step
    # the fetch is a child of its step: work inside a step stays inside the trace
    fetches = [s for s in spans if s.service == "worker" and s.kind == "CLIENT" and s.name.startswith("GET")]
    assert fetches and all(f.parent_id == steps[0].span_id for f in fetches)


def assert_route_spans(spans: list[Span], routes: dict[str, str]) -> None:
    """The SERVER span of each service, named and labelled by its route template."""
    for service, route in routes.items():
        matching = [
            s
            for s in spans
            if s.service == service and s.kind == "SERVER" and s.attributes.get("http.route") == route
        ]
        assert matching, f"no {service} server span for {route}: {[(s.service, s.name) for s in spans]}"
        assert all(s.attributes.get("http.response.status_code") in (200, 202) for s in matching)


def events(body: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def wait_task(traced: Traced, headers: dict[str, str], task_id: str) -> dict:  # type: ignore[type-arg]
    def done() -> dict | None:  # type: ignore[type-arg]
        task = httpx.get(f"{traced.urls['gateway']}/api/tasks/{task_id}", headers=headers, timeout=10).json()
        return task if task["status"] in ("completed", "failed") else None

    task = wait_until(done, timeout=60)
    assert task and task["status"] == "completed", task
    return task


@pytest.fixture
def llm(traced: Traced) -> Iterator[None]:
    traced.llm.reset()
    yield
    traced.llm.reset()


@pytest.mark.usefixtures("llm")
def test_a_streamed_chat_that_starts_a_task_is_one_trace(traced: Traced, pages: PageServer) -> None:
    url = pages.url("/pages/mozilla-1.html")
    traced.llm.queue(
        Reply(tool_calls=[("create_task", {"title": "obs", "description": f"Summarize {url}"})]),
        Reply("Started it: the summary shows under Tasks."),
    )
    _, headers = traced.session()
    answer = httpx.post(
        f"{traced.urls['frontend']}/api/chat",
        json={"message": f"summarize {url}"},
        headers={**headers, "accept": "text/event-stream"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    done = dict(events(answer.text))["done"]
    (task_id,) = done["tasks_started"]
    wait_task(traced, headers, task_id)

    spans = whole_trace(traced, task_id)
    assert_connected(spans, root_service="frontend")
    assert {"frontend", "gateway", "chat", "orchestrator", "worker"} <= {s.service for s in spans}
    assert_route_spans(
        spans,
        {"frontend": "/api/{path:path}", "gateway": "/api/chat", "chat": "/chat", "orchestrator": "/task"},
    )
    assert_queue_hops(spans, task_id)

    # two model calls (the tool call, then the words), each a GenAI span with its usage
    model_calls = [s for s in spans if "gen_ai.system" in s.attributes]
    assert len(model_calls) == 2
    for span, (prompt, completion) in zip(
        sorted(model_calls, key=lambda s: s.start_ns), traced.llm.usage_sent, strict=True
    ):
        assert span.service == "chat" and span.kind == "CLIENT" and span.name == f"chat {MODEL}"
        assert span.attributes["gen_ai.system"] == "openai"
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.request.model"] == MODEL
        assert span.attributes["gen_ai.usage.input_tokens"] == prompt
        assert span.attributes["gen_ai.usage.output_tokens"] == completion
    assert done["usage"] == {
        "prompt_tokens": sum(p for p, _ in traced.llm.usage_sent),
        "completion_tokens": sum(c for _, c in traced.llm.usage_sent),
    }


def test_a_url_task_is_one_trace_from_post_to_the_last_step(traced: Traced, pages: PageServer) -> None:
    _, headers = traced.session()
    created = httpx.post(
        f"{traced.urls['frontend']}/api/task",
        headers=headers,
        timeout=10,
        json={"title": "obs", "description": f"Summarize {pages.url('/pages/lwn-1.html')}"},
    )
    assert created.status_code == 202, created.text
    task_id = created.json()["task_id"]
    wait_task(traced, headers, task_id)

    spans = whole_trace(traced, task_id)
    assert_connected(spans, root_service="frontend")
    assert {s.service for s in spans} == {"frontend", "gateway", "orchestrator", "worker"}
    assert_route_spans(
        spans, {"frontend": "/api/{path:path}", "gateway": "/api/task", "orchestrator": "/task"}
    )
    assert_queue_hops(spans, task_id)
    # the step spans use the stable database names for their SQL and Redis calls
    worker_calls = [s for s in spans if s.service == "worker" and s.kind == "CLIENT"]
    systems = {s.attributes.get("db.system.name") for s in worker_calls}
    assert {"postgresql", "redis"} <= systems


def test_a_callers_traceparent_is_continued_by_the_gateway(traced: Traced) -> None:
    """A browser (or any client) that sends a W3C traceparent gets the gateway's spans in its
    trace; the services below see the gateway's span as their parent, not the client's."""
    _, headers = traced.session()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    answer = httpx.get(
        f"{traced.urls['gateway']}/api/tasks",
        timeout=10,
        headers={**headers, "traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    assert answer.status_code == 200
    spans = wait_until(lambda: len(found := traced.collector.trace(trace_id)) >= 4 and found)
    (gateway,) = [s for s in spans if s.service == "gateway" and s.kind == "SERVER"]
    assert gateway.parent_id == parent_id and gateway.attributes["http.route"] == "/api/tasks"
    (orchestrator,) = [s for s in spans if s.service == "orchestrator" and s.kind == "SERVER"]
    assert orchestrator.parent_id == gateway.span_id
    (limit,) = [s for s in spans if s.name == "EVALSHA rate limit"]
    assert limit.parent_id == gateway.span_id and limit.attributes["db.system.name"] == "redis"


def test_probes_and_scrapes_make_no_spans(traced: Traced) -> None:
    for name, url in traced.urls.items():
        for path in ("/health", "/ready", "/metrics"):
            assert httpx.get(url + path, timeout=10).status_code == 200, (name, path)
    time.sleep(0.5)  # five export intervals
    probes = ("/health", "/ready", "/metrics")
    probed = [s for s in traced.collector.spans if s.attributes.get("http.route") in probes]
    assert not probed
    # and no trace made of a lone database or Redis call (a worker's read, a heartbeat)
    by_trace = Counter(s.trace_id for s in traced.collector.spans)
    lone = [s for s in traced.collector.spans if by_trace[s.trace_id] == 1 and s.kind == "CLIENT"]
    assert not lone, lone[:5]
