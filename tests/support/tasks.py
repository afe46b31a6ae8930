"""Helpers to drive tasks over real HTTP and wait for them, bounded in time."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "cancelled"}


def new_user() -> str:
    """A user id of its own per test, so tests never see each other's tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def submit(client: httpx.AsyncClient, user: str, description: str, title: str = "t") -> str:
    r = await client.post(
        "/task", json={"title": title, "description": description}, headers={"X-User-Id": user}
    )
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


async def wait_done(
    client: httpx.AsyncClient, user: str, task_ids: list[str], timeout: float = 60.0, path: str = "/task/{id}"
) -> dict[str, dict[str, Any]]:
    """Poll until every task is terminal; fail with the stragglers' states after timeout."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        for tid in [t for t in task_ids if t not in done]:
            r = await client.get(path.format(id=tid), headers={"X-User-Id": user})
            assert r.status_code == 200, r.text
            if r.json()["status"] in TERMINAL:
                done[tid] = r.json()
        if len(done) == len(task_ids):
            return done
        if time.monotonic() > deadline:
            pending = {t: None for t in task_ids if t not in done}
            for tid in pending:
                r = await client.get(path.format(id=tid), headers={"X-User-Id": user})
                pending[tid] = r.json()
            raise AssertionError(f"{len(pending)} tasks not finished after {timeout}s: {pending}")
        await asyncio.sleep(0.1)
