"""Every command against the real system: what people see, the --json shapes scripts rely
on, and the exit codes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.cli.conftest import Run, stored
from tests.support.pageserver import PageServer

TASK_KEYS = {
    "task_id",
    "status",
    "title",
    "description",
    "result",
    "error",
    "steps",
    "created_at",
    "updated_at",
    "plan_source",
    "plan_note",
    "plan",
}
STEP_KEYS = {
    "id",
    "type",
    "status",
    "error",
    "attempts",
    "depends_on",
    "optional",
    "params",
    "started_at",
    "finished_at",
    "duration_ms",
    "output",
}
COMMANDS = ("chat", "history", "task", "tasks", "status", "cancel", "tools", "load", "health")


def test_help_lists_every_command_and_the_exit_codes(agentctl: Run) -> None:
    result = agentctl("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.out
    assert "Exit codes:" in result.out
    for code in range(8):
        assert f"    {code}  " in result.out
    for name in COMMANDS:
        assert agentctl(name, "--help").code == 0


def test_usage_errors_exit_2(agentctl: Run) -> None:
    assert agentctl("status").code == 2  # missing argument
    assert agentctl("tasks", "--limit", "0").code == 2
    both = agentctl("--url", "http://127.0.0.1:1", "--kube-context", "x", "tasks")
    assert both.code == 2
    assert "two different targets" in both.err
    bad_url = agentctl("--url", "localhost:8080", "tasks")
    assert bad_url.code == 2 and "http://" in bad_url.err
    assert agentctl("load", "--tasks", "1", "--url", "not-a-url").code == 2


def test_chat_streams_the_answer_and_history_shows_it(agentctl: Run) -> None:
    chat = agentctl("chat", "hello there")
    assert chat.code == 0, chat.err
    assert "offline assistant" in chat.out
    assert "offline · 0 + 0 tokens" in chat.err  # the done event's model and usage
    history = agentctl("history")
    assert history.code == 0
    assert "hello there" in history.out and "offline assistant" in history.out
    messages = agentctl("history", "--json").json()
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert set(messages[0]) >= {"role", "content", "created_at"}
    assert messages[0]["content"] == "hello there"


def test_chat_json_and_a_task_started_from_the_chat(agentctl: Run, pages: PageServer) -> None:
    url = pages.url("/pages/wikipedia.html")
    result = agentctl("--json", "chat", f"summarize {url}")
    assert result.code == 0, result.err
    done = result.json()
    assert set(done) >= {"response", "chat_id", "model", "usage", "cost_usd", "tasks_started"}
    [task_id] = done["tasks_started"]
    assert task_id in done["response"]
    streamed = agentctl("chat", f"summarize {url}")
    assert "[tool create_task · ok · task " in streamed.err  # the tool event, shown as it happens
    listed = agentctl("tasks", "--json").json()
    assert task_id in {t["task_id"] for t in listed}


def test_chat_reads_the_message_from_stdin(agentctl: Run) -> None:
    result = agentctl("--json", "chat", "-", stdin="hi from a pipe\n")
    assert result.code == 0, result.err
    assert agentctl("history", "--json").json()[0]["content"] == "hi from a pipe"
    assert agentctl("chat", "-", stdin="  \n").code == 2


def test_task_wait_shows_each_step_then_the_result(agentctl: Run, pages: PageServer) -> None:
    result = agentctl("task", f"Summarize {pages.url('/pages/wikipedia.html')}", "--title", "wiki", "--wait")
    assert result.code == 0, result.err
    for step in ("fetch_url", "extract_text", "summarize"):
        assert step in result.out
    assert "completed" in result.out
    assert "result:" in result.out and "Summary:" in result.out


def test_task_status_and_tasks_json_shapes(agentctl: Run, pages: PageServer) -> None:
    created = agentctl("--json", "task", f"Summarize {pages.url('/pages/wikipedia.html')}")
    assert created.code == 0, created.err
    body = created.json()
    assert set(body) == {"task_id", "status"} and body["status"] == "queued"
    done = agentctl("task", "A short text to summarize. It has two sentences.", "--wait", "--json")
    assert done.code == 0
    task = done.json()
    assert set(task) == TASK_KEYS and task["status"] == "completed"
    assert task["title"] == "A short text to summarize. It has two sentences."  # the default title
    assert all(set(step) == STEP_KEYS for step in task["steps"])
    status = agentctl("status", task["task_id"], "--json")
    assert status.code == 0 and status.json()["result"] == task["result"]
    listed = agentctl("tasks", "--json")
    assert listed.code == 0
    assert {body["task_id"], task["task_id"]} <= {t["task_id"] for t in listed.json()}
    assert all(set(t) == TASK_KEYS for t in listed.json())
    table = agentctl("tasks")
    assert task["task_id"] in table.out and "completed" in table.out and "STATUS" in table.out
    assert len(agentctl("tasks", "--limit", "1", "--json").json()) == 1


def test_a_failed_task_exits_1(agentctl: Run, pages: PageServer) -> None:
    result = agentctl("task", f"Summarize {pages.url('/status/404')}", "--wait")
    assert result.code == 1
    assert "failed" in result.out and "404" in result.out and "skipped" in result.out
    task_id = agentctl("tasks", "--json").json()[0]["task_id"]
    status = agentctl("status", task_id, "--json")
    assert status.code == 1 and status.json()["status"] == "failed"


def test_wait_timeout_exits_7_then_cancel(agentctl: Run, pages: PageServer) -> None:
    slow = pages.url("/slow/wikipedia.html?delay=4")
    result = agentctl("task", f"Summarize {slow}", "--wait", "--timeout", "1")
    assert result.code == 7
    assert "still" in result.err and "agentctl status" in result.err
    task_id = agentctl("tasks", "--json").json()[0]["task_id"]
    cancelled = agentctl("cancel", task_id, "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["status"] == "cancelled"
    assert agentctl("status", task_id).code == 1  # cancelled
    assert agentctl("cancel", task_id).code == 0  # cancelling twice is no error
    finished = agentctl("task", "Two sentences to summarize. Here is the second.", "--wait", "--json").json()
    too_late = agentctl("cancel", finished["task_id"])
    assert too_late.code == 2 and "already completed" in too_late.err


@pytest.mark.parametrize(
    ("task_id", "status"), [("5b6d6f0e-0000-4000-8000-000000000000", 404), ("not-a-uuid", 422)]
)
def test_unknown_or_malformed_task_ids_exit_2(agentctl: Run, task_id: str, status: int) -> None:
    result = agentctl("status", task_id)
    assert result.code == 2
    assert f"({status})" in result.err
    error = agentctl("--json", "status", task_id).error()
    assert error["error"] == "usage" and error["exit_code"] == 2 and error["status"] == status
    assert agentctl("--json", "status", task_id).out == ""  # stdout stays clean for scripts


def test_health(agentctl: Run, gateway_url: str) -> None:
    result = agentctl("health")
    assert result.code == 0, result.err
    for name in ("gateway", "chat", "orchestrator"):
        assert name in result.out
    assert "NOT READY" not in result.out
    assert "queue task_queue" in result.out
    report = agentctl("health", "--json").json()
    assert report["ok"] is True and report["target"] == gateway_url
    assert report["gateway"]["ready"] is True and report["gateway"]["url"] == gateway_url
    assert set(report["upstreams"]) == {"chat", "orchestrator"}
    assert all(u["ready"] for u in report["upstreams"].values())
    queue = report["queue"]
    assert set(queue) >= {"stream", "group", "length", "pending", "lag", "consumers"}
    assert (queue["stream"], queue["group"]) == ("task_queue", "workers")
    assert f"length {queue['length']}" in result.out


def test_the_session_is_kept_per_target_in_a_private_file(
    agentctl: Run, config_dir: Path, gateway_url: str
) -> None:
    assert agentctl("tasks").code == 0
    first = stored(config_dir)[gateway_url]
    assert set(first) == {"token", "user_id", "expires_at"}
    path = config_dir / "sessions.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert agentctl("tasks").code == 0
    assert stored(config_dir)[gateway_url] == first  # reused, not made again
    # the same gateway under another name is another target, with a session of its own
    other = gateway_url.replace("127.0.0.1", "localhost")
    assert agentctl("--url", other, "tasks").code == 0
    sessions = stored(config_dir)
    assert set(sessions) == {gateway_url, other}
    assert sessions[other]["user_id"] != first["user_id"]
