"""Pages that declare a codec which is no text encoding (`charset=rot13`, `base64`, `hex`)
go through the whole pipeline on real workers: the task completes and the extracted title
and text carry the page's accents, decoded right."""

from __future__ import annotations

import json

import asyncpg
import httpx

from tests.support.pageserver import CHARSET_TITLE, PageServer
from tests.support.tasks import new_user, submit, wait_done


async def test_pages_declaring_rot13_base64_or_hex_are_summarized(
    orch: httpx.AsyncClient, db: asyncpg.Pool, pages: PageServer
) -> None:
    user = new_user()
    urls = [
        pages.url(f"/charset?header={label}&meta={label}&encoding={encoding}")
        for label in ("rot13", "base64", "hex")
        for encoding in ("utf-8", "cp1252")
    ]
    ids = [await submit(orch, user, f"Summarize {url}") for url in urls]
    tasks = await wait_done(orch, user, ids, timeout=60)
    for url, tid in zip(urls, ids, strict=True):
        assert tasks[tid]["status"] == "completed", (url, tasks[tid]["error"])
        output = await db.fetchval(
            "SELECT output FROM task_steps WHERE task_id = $1 AND type = 'extract_text'", tid
        )
        extracted = json.loads(output)
        assert extracted["title"] == CHARSET_TITLE, (url, extracted["title"])
        assert "Le café de Zürich sert un thé très naïf." in extracted["text"], url
