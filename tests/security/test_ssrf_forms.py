"""URL tasks aimed at loopback in the spellings tests/worker and tests/integration do not
already send end to end (octal, short hex, other 127/8 addresses, IPv6 long, NAT64, SIIT,
IPv4-compatible and 6to4 forms, a trailing dot, userinfo tricks), and through every
redirect status: each task fails with "blocked:" and the canary server sees nothing."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx

from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done

HOSTS = [
    "0177.0.0.1",
    "0x7f.1",
    "017700000001",
    "127.0.0.2",
    "127.255.255.254",
    "LOCALHOST",
    "localhost.",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",
    "[::ffff:0:7f00:1]",
    "[::ffff:0:127.0.0.1]",
    "[::127.0.0.1]",
    "0",
    "0.0.0.0",
]


async def test_every_loopback_spelling_is_refused(orch: httpx.AsyncClient, canary: PageServer) -> None:
    user = new_user()
    urls = [f"http://{h}:{canary.port}/pages/wikipedia.html" for h in HOSTS]
    urls += [
        f"http://allowed.example@127.0.0.1:{canary.port}/x",
        f"http://127.0.0.1:{canary.port}#@example.org/",
    ]
    ids = await asyncio.gather(*(submit(orch, user, f"Summarize {u}") for u in urls))
    tasks = await wait_done(orch, user, list(ids), timeout=60)
    for url, tid in zip(urls, ids, strict=True):
        assert tasks[tid]["status"] == "failed", url
        # refused as an address; or as a URL (0177.0.0.1: httpx rejects octal), or a name this
        # machine's resolver does not know ("localhost."): never fetched either way
        error = tasks[tid]["error"]
        refusals = ("blocked:", "not a valid URL", "could not resolve", "URLs with a user name")
        assert error.startswith(tuple(f"fetch_url failed: {r}" for r in refusals)), (url, error)
    assert canary.total_hits() == 0


async def test_every_redirect_status_is_checked(
    orch: httpx.AsyncClient, pages: PageServer, canary: PageServer
) -> None:
    user = new_user()
    targets = [
        canary.url("/pages/cnn.html"),
        f"http://[::1]:{canary.port}/x",
        f"http://0x7f000001:{canary.port}/x",
    ]
    urls = [
        pages.url(f"/redirect?code={code}&to={quote(target, safe='')}")
        for code in (301, 302, 303, 307, 308)
        for target in targets
    ]
    # and a chain: allowed -> allowed -> loopback
    urls.append(
        pages.url(
            "/redirect?to=" + quote(pages.url("/redirect?to=" + quote(canary.url("/x"), safe="")), safe="")
        )
    )
    ids = await asyncio.gather(*(submit(orch, user, f"Summarize {u}") for u in urls))
    tasks = await wait_done(orch, user, list(ids), timeout=60)
    for url, tid in zip(urls, ids, strict=True):
        assert tasks[tid]["status"] == "failed", url
        assert "blocked:" in tasks[tid]["error"], (url, tasks[tid]["error"])
    assert canary.total_hits() == 0
