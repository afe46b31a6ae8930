"""Through the stack's gateway to the real orchestrator and chat service (every service a
process, PostgreSQL and Redis real): each route of services/gateway/README.md "Routes",
isolation between users, and the upstreams report."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agent_common.devstack import Stack
from tests.gateway.conftest import Session, new_session

Http = httpx.AsyncClient


@pytest.fixture
def api(stack: Stack) -> str:
    return stack.url("gateway")


async def _create_task(client: Http, api: str, session: Session, title: str = "Note") -> str:
    answer = await client.post(
        f"{api}/api/task",
        headers=session.bearer,
        json={"title": title, "description": "Plain text to summarize. " * 5},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "queued"
    return str(body["task_id"])


async def test_task_routes_reach_the_orchestrator(client: Http, api: str) -> None:
    session = await new_session(client, api)
    task_id = await _create_task(client, api, session)

    one = await client.get(f"{api}/api/tasks/{task_id}", headers=session.bearer)
    assert one.status_code == 200
    assert one.json()["task_id"] == task_id
    fields = {"status", "title", "description", "result", "error", "steps", "created_at", "updated_at"}
    assert fields <= set(one.json())

    listed = await client.get(f"{api}/api/tasks", headers=session.bearer)
    assert listed.status_code == 200
    assert [t["task_id"] for t in listed.json()] == [task_id]

    cancel = await client.post(f"{api}/api/tasks/{task_id}/cancel", headers=session.bearer)
    # the workers may have finished it already: then the orchestrator's 409 comes through
    assert cancel.status_code in (200, 409), cancel.text
    if cancel.status_code == 200:
        assert cancel.json()["status"] == "cancelled"
    else:
        assert cancel.json()["detail"].startswith("task already")


async def test_a_task_runs_to_completion_through_the_gateway(client: Http, api: str) -> None:
    session = await new_session(client, api)
    task_id = await _create_task(client, api, session, "Summarize")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = (await client.get(f"{api}/api/tasks/{task_id}", headers=session.bearer)).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            break
        await asyncio.sleep(0.2)
    assert task["status"] == "completed", task
    assert task["result"]


async def test_one_user_never_sees_anothers_task(client: Http, api: str) -> None:
    owner, other = await new_session(client, api), await new_session(client, api)
    task_id = await _create_task(client, api, owner)
    assert (await client.get(f"{api}/api/tasks/{task_id}", headers=other.bearer)).status_code == 404
    assert (await client.post(f"{api}/api/tasks/{task_id}/cancel", headers=other.bearer)).status_code == 404
    assert (await client.get(f"{api}/api/tasks", headers=other.bearer)).json() == []
    # a forged X-User-Id does not help either
    forged_id = {**other.bearer, "X-User-Id": owner.user_id}
    forged = await client.get(f"{api}/api/tasks/{task_id}", headers=forged_id)
    assert forged.status_code == 404


async def test_orchestrator_errors_come_through_as_json(client: Http, api: str) -> None:
    session = await new_session(client, api)
    invalid = await client.post(f"{api}/api/task", headers=session.bearer, json={"title": "no description"})
    assert invalid.status_code == 422
    assert "detail" in invalid.json()
    as_json = {**session.bearer, "Content-Type": "application/json"}
    bad_json = await client.post(f"{api}/api/task", headers=as_json, content=b"{not json")
    assert bad_json.status_code == 400
    assert (await client.get(f"{api}/api/tasks/not-a-uuid", headers=session.bearer)).status_code == 422


async def test_chat_round_trip_and_history(client: Http, api: str) -> None:
    session = await new_session(client, api)
    answer = await client.post(f"{api}/api/chat", headers=session.bearer, json={"message": "Hello there"})
    assert answer.status_code == 200, answer.text
    assert {"response", "chat_id"} <= set(answer.json())
    history = await client.get(f"{api}/api/chat/history/{session.user_id}", headers=session.bearer)
    assert history.status_code == 200
    messages = history.json()
    assert [m["role"] for m in messages][:2] == ["user", "assistant"]
    assert messages[0]["content"] == "Hello there"


async def test_chat_streams_events_through_the_gateway(client: Http, api: str) -> None:
    session = await new_session(client, api)
    headers = {**session.bearer, "Accept": "text/event-stream"}
    events: list[str] = []
    async with client.stream("POST", f"{api}/api/chat", headers=headers, json={"message": "Hi"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[-1] == "done"
    assert "delta" in events


async def test_another_users_chat_history_is_404(client: Http, api: str) -> None:
    me, other = await new_session(client, api), await new_session(client, api)
    await client.post(f"{api}/api/chat", headers=other.bearer, json={"message": "private"})
    answer = await client.get(f"{api}/api/chat/history/{other.user_id}", headers=me.bearer)
    assert answer.status_code == 404
    assert "private" not in answer.text


async def test_upstreams_report(client: Http, api: str) -> None:
    assert (await client.get(f"{api}/api/upstreams")).status_code == 401
    session = await new_session(client, api)
    report = (await client.get(f"{api}/api/upstreams", headers=session.bearer)).json()
    for name in ("chat", "orchestrator"):
        assert report["upstreams"][name]["ready"] is True
        assert "url" not in report["upstreams"][name]  # internal: only with UPSTREAMS_REPORT_URLS
    queue = report["queue"]
    assert (queue["stream"], queue["group"]) == ("task_queue", "workers")
    assert isinstance(queue["length"], int)
    assert queue["consumers"] >= 1
    assert "lag" in queue and "pending" in queue


async def test_the_tool_registry_is_listed(client: Http, api: str) -> None:
    """GET /api/tools: every tool a plan may use, each with a JSON Schema that accepts good
    parameters and refuses bad ones; the internal ones (echo, replan) are not listed."""
    from jsonschema import Draft202012Validator

    assert (await client.get(f"{api}/api/tools")).status_code == 401
    session = await new_session(client, api)
    answer = await client.get(f"{api}/api/tools", headers=session.bearer)
    assert answer.status_code == 200
    tools = {t["name"]: t for t in answer.json()}
    assert set(tools) == {"fetch_url", "extract_text", "summarize", "answer", "compare", "combine"}
    for tool in tools.values():
        assert tool["description"] and Draft202012Validator.check_schema(tool["parameters"]) is None
    fetch = Draft202012Validator(tools["fetch_url"]["parameters"])
    assert fetch.is_valid({"url": "https://example.org/a"})
    assert not fetch.is_valid({"url": "ftp://example.org/a"}) and not fetch.is_valid({})
    answer_params = Draft202012Validator(tools["answer"]["parameters"])
    assert answer_params.is_valid({"question": "Who?"}) and not answer_params.is_valid({"question": ""})
    assert tools["compare"]["inputs"] == {"takes": ["text"], "min": 2, "max": None}
    assert tools["extract_text"]["output"]["kind"] == "text"
