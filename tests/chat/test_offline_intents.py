"""The offline assistant end to end: the stack's chat service (LLM_PROVIDER=offline) with
the real orchestrator and workers behind it."""

from __future__ import annotations

import re

import asyncpg
import httpx

from tests.chat.helpers import send
from tests.support.pageserver import TEXT_ARTICLE, PageServer
from tests.support.tasks import new_user, wait_done

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def ask(chat: httpx.AsyncClient, user: str, message: str) -> dict:  # type: ignore[type-arg]
    r = await send(chat, user, message)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_greeting_and_help_say_what_it_is_and_how_to_configure(chat: httpx.AsyncClient) -> None:
    user = new_user()
    for message in ("Hello!", "help", "what can you do?"):
        answer = (await ask(chat, user, message))["response"]
        assert "offline assistant" in answer
        assert "summarize https://" in answer and "status of task" in answer
        assert "LLM_PROVIDER=openai" in answer and "LLM_PROVIDER=anthropic" in answer
        assert "11434" in answer  # how to point it at a local Ollama


async def test_summarize_url_starts_a_task_that_completes(
    chat: httpx.AsyncClient, orch: httpx.AsyncClient, pages: PageServer, db: asyncpg.Pool
) -> None:
    user = new_user()
    url = pages.url("/pages/mozilla-1.html")
    answer = await ask(chat, user, f"Summarize {url}")
    [task_id] = answer["tasks_started"]
    assert task_id in answer["response"] and "Tasks" in answer["response"]
    task = (await wait_done(orch, user, [task_id], timeout=60))[task_id]
    assert task["status"] == "completed", task
    assert task["result"].startswith("Summary:")
    assert task["description"] == f"Summarize {url}"
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", user) == 1

    status = (await ask(chat, user, f"status of task {task_id}"))["response"]
    assert f"Task {task_id}" in status and "is completed" in status and "Result: Summary:" in status
    assert (await ask(chat, user, task_id))["response"] == status  # a bare id asks the same


async def test_a_bare_url_is_summarized_too(chat: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    answer = await ask(chat, user, pages.url("/pages/wikipedia.html") + ".")
    assert len(answer["tasks_started"]) == 1


async def test_status_while_running_and_for_someone_elses_task(
    chat: httpx.AsyncClient, pages: PageServer
) -> None:
    owner, other = new_user(), new_user()
    started = await ask(chat, owner, f"please summarize {pages.url('/slow/wikipedia.html?delay=3')}")
    [task_id] = started["tasks_started"]
    status = (await ask(chat, owner, f"what's the progress of {task_id}?"))["response"]
    assert re.search(r"is (queued|processing)", status), status
    foreign = (await ask(chat, other, f"status of task {task_id}"))["response"]
    assert "can't find" in foreign and "Result" not in foreign
    assert (
        "can't find"
        in (await ask(chat, owner, "status of task 00000000-0000-0000-0000-000000000000"))["response"]
    )


async def test_pasted_text_gets_an_extractive_summary_without_a_task(
    chat: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    user = new_user()
    answer = await ask(chat, user, TEXT_ARTICLE)
    text = answer["response"]
    assert "extractive summary" in text and "Summary:" in text
    picked = text.split("min read. ", 1)[1]
    article = " ".join(TEXT_ARTICLE.split())
    sentences = [" ".join(s.split()) for s in picked.split(". ") if s.strip()]
    assert len(sentences) >= 3 and all(s in article for s in sentences)
    assert answer["tasks_started"] == []
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE user_id = $1", user) == 0


async def test_anything_else_gets_a_short_useful_answer(chat: httpx.AsyncClient, pages: PageServer) -> None:
    user = new_user()
    answer = (await ask(chat, user, "What is the capital of France?"))["response"]
    assert "offline assistant" in answer and "summarize" in answer and len(answer) < 600
    about_url = await ask(chat, user, f"what do you think of {pages.url('/text')}?")
    assert about_url["tasks_started"] == [] and f"summarize {pages.url('/text')}" in about_url["response"]
