"""The orchestrator's API over real HTTP with real workers: plan, list, cancel, isolation,
and bad input that is refused without writing anything."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from tests.support.pageserver import TEXT_ARTICLE, PageServer
from tests.support.tasks import new_user, submit, wait_done


async def test_text_task_is_summarized_directly(orch: httpx.AsyncClient) -> None:
    user = new_user()
    tid = await submit(orch, user, TEXT_ARTICLE)
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    assert [s["type"] for s in task["steps"]] == ["summarize"]
    assert task["result"].startswith("Summary: ")
    assert "words" in task["result"] and "min read" in task["result"]


async def test_url_task_runs_three_steps(orch: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    tid = await submit(orch, user, f"Summarize this article: {pages.url('/pages/mozilla-1.html')}.")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "completed", task
    assert [(s["type"], s["status"]) for s in task["steps"]] == [
        ("fetch_url", "completed"),
        ("extract_text", "completed"),
        ("summarize", "completed"),
    ]
    assert all(s["duration_ms"] is not None and s["attempts"] == 1 for s in task["steps"])
    assert task["result"].startswith("Summary: ")


async def test_list_is_newest_first_and_per_user(orch: httpx.AsyncClient) -> None:
    user, other = new_user(), new_user()
    first = await submit(orch, user, "First text to summarize. It has two sentences.", title="first")
    second = await submit(orch, user, "Second text to summarize. It has two sentences.", title="second")
    await submit(orch, other, "Someone else's task. Not visible to the first user.")
    r = await orch.get("/tasks", headers={"X-User-Id": user})
    assert r.status_code == 200
    assert [t["task_id"] for t in r.json()] == [second, first]
    newest = await orch.get("/tasks", params={"limit": 1}, headers={"X-User-Id": user})
    assert [t["task_id"] for t in newest.json()] == [second]


async def test_another_users_task_is_not_found(orch: httpx.AsyncClient) -> None:
    owner, intruder = new_user(), new_user()
    tid = await submit(orch, owner, "Private text. Only the owner may read it.")
    for method, path in (("GET", f"/task/{tid}"), ("POST", f"/task/{tid}/cancel")):
        r = await orch.request(method, path, headers={"X-User-Id": intruder})
        assert r.status_code == 404 and r.json() == {"detail": "task not found"}


async def test_cancel_stops_the_steps_not_yet_run(orch: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    url = pages.url("/slow/wikipedia.html?delay=2")
    tid = await submit(orch, user, f"Summarize {url}")
    for _ in range(100):  # until a worker has started fetching
        task = (await orch.get(f"/task/{tid}", headers={"X-User-Id": user})).json()
        if pages.hits["/slow/wikipedia.html"] and task["status"] == "processing":
            break
        await asyncio.sleep(0.05)
    r = await orch.post(f"/task/{tid}/cancel", headers={"X-User-Id": user})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    await asyncio.sleep(3)  # the fetch in hand finishes; nothing after it may run
    task = (await orch.get(f"/task/{tid}", headers={"X-User-Id": user})).json()
    assert task["status"] == "cancelled"
    assert [s["status"] for s in task["steps"][1:]] == ["cancelled", "cancelled"]
    assert task["result"] is None
    again = await orch.post(f"/task/{tid}/cancel", headers={"X-User-Id": user})
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


async def test_cancel_after_completion_is_a_conflict(orch: httpx.AsyncClient) -> None:
    user = new_user()
    tid = await submit(orch, user, "Short text. Done quickly.")
    await wait_done(orch, user, [tid])
    r = await orch.post(f"/task/{tid}/cancel", headers={"X-User-Id": user})
    assert r.status_code == 409 and r.json() == {"detail": "task already completed"}


BAD_BODIES = [
    ("missing description", {"title": "t"}, 422),
    ("missing title", {"description": "d"}, 422),
    ("title not a string", {"title": 5, "description": "d"}, 422),
    ("description a list", {"title": "t", "description": ["d"]}, 422),
    ("empty title", {"title": "   ", "description": "d"}, 422),
    ("title too long", {"title": "x" * 201, "description": "d"}, 422),
    ("description too long", {"title": "t", "description": "x" * 10_001}, 422),
    ("NUL in description", {"title": "t", "description": "a\u0000b"}, 422),
    ("unknown field", {"title": "t", "description": "d", "priority": 1}, 422),
    ("not an object", ["t", "d"], 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_refused_and_write_nothing(
    orch: httpx.AsyncClient, db: asyncpg.Pool, case: str, body: object, status: int
) -> None:
    user = new_user()
    r = await orch.post("/task", json=body, headers={"X-User-Id": user})
    assert r.status_code == status, (case, r.text)
    assert "detail" in r.json()
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", user) == 0


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b'{"title": "t", "description": ', "application/json", 400),
        (b"title=t&description=d", "application/x-www-form-urlencoded", 422),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b'{"title": "t", "description": "' + b"x" * 70_000 + b'"}', "application/json", 413),
    ],
    ids=["truncated JSON", "form body", "binary", "oversized body"],
)
async def test_malformed_bodies(
    orch: httpx.AsyncClient, db: asyncpg.Pool, content: bytes, ctype: str, status: int
) -> None:
    user = new_user()
    r = await orch.post("/task", content=content, headers={"X-User-Id": user, "content-type": ctype})
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", user) == 0


async def test_ids_and_identity(orch: httpx.AsyncClient) -> None:
    user = new_user()
    unknown = await orch.get(f"/task/{uuid.uuid4()}", headers={"X-User-Id": user})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "task not found"}
    not_uuid = await orch.get("/task/not-a-uuid", headers={"X-User-Id": user})
    assert not_uuid.status_code == 422 and not_uuid.json()["detail"][0]["loc"] == ["path", "task_id"]
    anonymous = await orch.post("/task", json={"title": "t", "description": "d"})
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    bad_limit = await orch.get("/tasks", params={"limit": 0}, headers={"X-User-Id": user})
    assert bad_limit.status_code == 422


async def test_status_is_mirrored_in_redis(orch: httpx.AsyncClient, rds) -> None:  # noqa: ANN001
    user = new_user()
    tid = await submit(orch, user, "Mirror me. Then finish.")
    await wait_done(orch, user, [tid])
    assert await rds.get(f"task:{tid}:status") == "completed"
    assert 0 < await rds.ttl(f"task:{tid}:status") <= 86_400
