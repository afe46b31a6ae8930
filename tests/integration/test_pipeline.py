"""Every fixture page, served by a local HTTP server, goes through fetch_url ->
extract_text -> summarize on real workers; the summary must be faithful to the article."""

from __future__ import annotations

import asyncpg
import httpx

from tests.shared_data import PAGE_NAMES
from tests.support.articles import expected_text, normalize, words
from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done


async def test_every_fixture_page_is_summarized_faithfully(
    orch: httpx.AsyncClient, db: asyncpg.Pool, pages: PageServer
) -> None:
    user = new_user()
    ids = {
        name: await submit(orch, user, f"Summarize {pages.url(f'/pages/{name}.html')}", title=name)
        for name in PAGE_NAMES
    }
    tasks = await wait_done(orch, user, list(ids.values()), timeout=120)

    problems = []
    for name, tid in ids.items():
        task = tasks[tid]
        if task["status"] != "completed":
            problems.append(f"{name}: {task['status']} {task['error']}")
            continue
        output = await db.fetchval(
            "SELECT output FROM task_steps WHERE task_id = $1 AND type = 'summarize'", tid
        )
        import json

        summary = json.loads(output)
        article = normalize(expected_text(name))
        expected_words = len(words(expected_text(name)))
        for sentence in summary["sentences"]:
            assert sentence in task["result"], (name, sentence)
            if normalize(sentence) not in article:
                problems.append(f"{name}: sentence not in the article: {sentence[:80]!r}")
        if not 3 <= len(summary["sentences"]) <= 5:
            problems.append(f"{name}: {len(summary['sentences'])} sentences")
        if abs(summary["word_count"] - expected_words) > 0.2 * expected_words:
            problems.append(f"{name}: {summary['word_count']} words, expected about {expected_words}")
        assert task["result"].startswith(f"Summary: {summary['word_count']} words"), task["result"][:80]
    assert not problems, "\n".join(problems)
