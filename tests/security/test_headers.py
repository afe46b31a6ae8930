"""The security headers on what a browser gets from the running stack's frontend: the page,
its assets, its errors, and the API answers it forwards from the real gateway (an API
answer holding user text must not be sniffed into HTML either)."""

from __future__ import annotations

import re

import httpx

from agent_common.devstack import Stack


def check(headers: httpx.Headers, where: str) -> None:
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, where
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where


async def test_page_assets_errors_and_api_answers_carry_the_headers(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("frontend"), timeout=30) as client:
        page = await client.get("/")
        check(page.headers, "/")
        assert "require-trusted-types-for 'script'" in page.headers["content-security-policy"]
        for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text):
            check((await client.get(asset)).headers, asset)
        check((await client.get("/no-such-page")).headers, "404")
        created = await client.post("/api/session")
        assert created.status_code == 201
        check(created.headers, "/api/session")
        auth = {"Authorization": f"Bearer {created.json()['session_token']}"}
        task = await client.post(
            "/api/task",
            headers=auth,
            json={"title": "<script>alert(1)</script>", "description": "<b>x</b> text"},
        )
        check(task.headers, "/api/task")
        shown = await client.get(f"/api/tasks/{task.json()['task_id']}", headers=auth)
        check(shown.headers, "/api/tasks/{id}")
        assert shown.headers["content-type"].startswith("application/json")
        check((await client.get("/api/tasks", headers={})).headers, "401")
