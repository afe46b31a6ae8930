"""The chat service with a real provider: OpenAI's and Anthropic's wire formats from the
stand-ins, through the official SDKs, in a real chat process. Plain and streamed answers,
usage and cost stored and exported, context of exactly the last N, and tool calls that
start a real task which the real workers complete."""

from __future__ import annotations

import re
from decimal import Decimal

import asyncpg
import httpx

from tests.chat.conftest import LLMChat
from tests.chat.helpers import rows, send, stream
from tests.conftest import MODEL, PRICE
from tests.support.llm_standins import Reply
from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, wait_done

CONTEXT_N = 5  # ChatSettings.chat_context_messages default


def expected_cost(prompt: int, completion: int) -> Decimal:
    return (Decimal(str(PRICE["input"])) * prompt + Decimal(str(PRICE["output"])) * completion) / 1_000_000


def sent_messages(chat: LLMChat, index: int = -1) -> list[tuple[str, str]]:
    """(role, text) of the conversation in the request the stand-in got, system prompt aside."""
    body = chat.standin.requests[index]
    out = []
    for m in body["messages"]:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        out.append((m["role"], content or ""))
    return [m for m in out if m[0] != "system"]


async def test_plain_answer_with_usage_and_cost(llm_chat: LLMChat, db: asyncpg.Pool) -> None:
    user = new_user()
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        r = await send(client, user, "What is a Redis stream?")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response"] == "Stand-in answer to: What is a Redis stream?"
    prompt, completion = llm_chat.standin.usage_sent[-1]
    assert body["usage"] == {"prompt_tokens": prompt, "completion_tokens": completion}
    assert body["model"] == MODEL and body["cost_usd"] == float(expected_cost(prompt, completion))

    request = llm_chat.standin.requests[-1]
    assert request["model"] == MODEL and not request.get("stream")
    tools = [t.get("name") or t["function"]["name"] for t in request["tools"]]
    assert tools == ["create_task", "get_task"]
    system = request.get("system") or request["messages"][0]["content"]
    assert "create_task" in system

    user_row, answer = await rows(db, user)
    assert (user_row["role"], user_row["content"]) == ("user", "What is a Redis stream?")
    assert user_row["error"] is None
    assert answer["id"] == body["chat_id"] and answer["content"] == body["response"]
    assert answer["model"] == MODEL
    assert (answer["prompt_tokens"], answer["completion_tokens"]) == (prompt, completion)
    assert answer["cost_usd"] == expected_cost(prompt, completion).quantize(Decimal("0.000001"))
    assert answer["latency_ms"] is not None and answer["latency_ms"] >= 0


async def test_streamed_answer_arrives_in_pieces_before_the_end(llm_chat: LLMChat, db: asyncpg.Pool) -> None:
    user = new_user()
    text = "Streams are append-only logs that consumer groups share between several workers."
    llm_chat.standin.queue(Reply(text, chunk_delay_s=0.1))
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, "Tell me about streams")
    assert result.status == 200 and result.content_type.startswith("text/event-stream")
    deltas, done = result.named("delta"), result.named("done")
    assert len(deltas) >= 8 and len(done) == 1 and result.events[-1].name == "done"
    assert result.text == text
    # pieces arrived over time, as the stand-in produced them, not all at the end
    assert done[0].at - deltas[0].at >= 0.5
    assert deltas[len(deltas) // 2].at - deltas[0].at >= 0.25

    prompt, completion = llm_chat.standin.usage_sent[-1]
    final = done[0].data
    assert final["usage"] == {"prompt_tokens": prompt, "completion_tokens": completion}
    assert final["response"] == text and final["model"] == MODEL
    request = llm_chat.standin.requests[-1]
    assert request["stream"] is True
    if llm_chat.provider == "openai":
        assert request["stream_options"] == {"include_usage": True}
    answer = (await rows(db, user))[-1]
    assert answer["id"] == final["chat_id"] and answer["content"] == text
    assert (answer["prompt_tokens"], answer["completion_tokens"]) == (prompt, completion)
    assert llm_chat.standin.completed_streams == 1


async def test_token_usage_and_cost_are_metrics(llm_chat: LLMChat) -> None:
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        before = _metric_values((await client.get("/metrics")).text, llm_chat.provider)
        await send(client, new_user(), "count my tokens please")
        after = _metric_values((await client.get("/metrics")).text, llm_chat.provider)
    prompt, completion = llm_chat.standin.usage_sent[-1]
    assert after["tokens_prompt"] - before.get("tokens_prompt", 0) == prompt
    assert after["tokens_completion"] - before.get("tokens_completion", 0) == completion
    cost = (
        after["cost_prompt"]
        + after["cost_completion"]
        - before.get("cost_prompt", 0)
        - before.get("cost_completion", 0)
    )
    assert abs(cost - float(expected_cost(prompt, completion))) < 1e-9
    assert after["calls_ok"] - before.get("calls_ok", 0) == 1


def _metric_values(text: str, provider: str) -> dict[str, float]:
    out = {}
    for name, key in (("llm_tokens_total", "tokens"), ("llm_cost_usd_total", "cost")):
        for kind in ("prompt", "completion"):
            labels = f'kind="{kind}",model="{MODEL}",provider="{provider}"'
            m = re.search(rf"^{name}{{{labels}}} (\S+)$", text, re.M)
            if m:
                out[f"{key}_{kind}"] = float(m.group(1))
    labels = f'model="{MODEL}",outcome="ok",provider="{provider}"'
    m = re.search(rf"^llm_requests_total{{{labels}}} (\S+)$", text, re.M)
    if m:
        out["calls_ok"] = float(m.group(1))
    return out


async def test_context_is_the_system_prompt_and_exactly_the_last_n(llm_chat: LLMChat) -> None:
    user = new_user()
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        for i in range(1, 8):
            assert (await send(client, user, f"message number {i}")).status_code == 200
        history = (await client.get(f"/chat/history/{user}", headers={"X-User-Id": user})).json()
    expected = [(m["role"], m["content"]) for m in history[:-1]][-CONTEXT_N:]
    assert sent_messages(llm_chat) == expected
    assert expected[0] == ("user", "message number 5") and expected[-1] == ("user", "message number 7")
    # the first message saw only itself
    assert sent_messages(llm_chat, 0) == [("user", "message number 1")]


async def test_tool_call_starts_a_real_task_that_workers_complete(
    llm_chat: LLMChat, pages: PageServer, orch: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    user = new_user()
    url = pages.url("/pages/wikipedia.html")
    llm_chat.standin.queue(
        Reply(
            "Starting that now.",
            [("create_task", {"title": "Summarize the Wikipedia page", "description": f"Summarize {url}"})],
        )
    )
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        r = await send(client, user, f"Please summarize {url}")
    assert r.status_code == 200, r.text
    body = r.json()
    [task_id] = body["tasks_started"]
    assert body["response"].startswith("Starting that now.\n\nThe tool answered: ")
    assert task_id in body["response"]
    # the model got the tool's result in the second call, paired with its call
    second = llm_chat.standin.requests[1]
    assert task_id in str(second["messages"][-1])
    # both calls are paid for
    used = [sum(u) for u in llm_chat.standin.usage_sent]
    assert len(used) == 2 and sum(body["usage"].values()) == sum(used)

    task = (await wait_done(orch, user, [task_id], timeout=60))[task_id]
    assert task["status"] == "completed" and task["title"] == "Summarize the Wikipedia page"
    assert [s["type"] for s in task["steps"]] == ["fetch_url", "extract_text", "summarize"]
    assert task["result"]

    # now the model checks on it, streamed this time
    llm_chat.standin.queue(Reply("", [("get_task", {"task_id": task_id})]))
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, f"How is task {task_id} doing?")
    [tool] = result.named("tool")
    assert tool.data == {"name": "get_task", "ok": True, "task_id": task_id, "status": "completed"}
    assert "completed" in result.text and result.named("done")
    # another user's model cannot see the task
    other = new_user()
    llm_chat.standin.queue(Reply("", [("get_task", {"task_id": task_id})]))
    async with httpx.AsyncClient(base_url=llm_chat.url, timeout=30) as client:
        r = await send(client, other, f"status of {task_id}")
    assert "no task with that id" in r.json()["response"]
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", other) == 0


async def test_streamed_tool_call_with_bad_arguments_is_explained_not_run(
    llm_chat: LLMChat, db: asyncpg.Pool
) -> None:
    user = new_user()
    llm_chat.standin.queue(Reply("", [("create_task", {"title": "no description"})]))
    async with httpx.AsyncClient(timeout=30) as client:
        result = await stream(client, llm_chat.url, user, "start something")
    [tool] = result.named("tool")
    assert tool.data["ok"] is False and "description" in tool.data["error"]
    assert result.named("done")[0].data["tasks_started"] == []
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", user) == 0
