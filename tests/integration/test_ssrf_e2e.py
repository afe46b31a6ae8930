"""URL tasks aimed at loopback are refused by the worker, directly and through a
redirect from an allowed server; the canary server sees no request at all."""

from __future__ import annotations

import httpx
import pytest

from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::1]"])
async def test_loopback_urls_are_refused(orch: httpx.AsyncClient, canary: PageServer, host: str) -> None:
    user = new_user()
    tid = await submit(orch, user, f"Summarize http://{host}:{canary.port}/pages/wikipedia.html")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "failed"
    assert "blocked:" in task["error"] and "loopback" in task["error"], task["error"]
    assert [s["status"] for s in task["steps"]] == ["failed", "skipped", "skipped"]
    assert canary.total_hits() == 0


async def test_redirect_to_loopback_is_refused(
    orch: httpx.AsyncClient, pages: PageServer, canary: PageServer
) -> None:
    user = new_user()
    target = canary.url("/pages/wikipedia.html")
    tid = await submit(orch, user, f"Summarize {pages.url('/redirect?to=' + target)}")
    task = (await wait_done(orch, user, [tid]))[tid]
    assert task["status"] == "failed"
    assert "blocked: 127.0.0.1 is a loopback address" in task["error"], task["error"]
    assert pages.hits["/redirect"] >= 1
    assert canary.total_hits() == 0
