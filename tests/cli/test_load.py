"""agentctl load against the real system: 50 tasks through to their summaries, figures
printed, the tasks followed through the list endpoint (no GET per task), bounded in time."""

from __future__ import annotations

import re
from collections import Counter

import asyncpg
import httpx

from tests.cli.conftest import Run
from tests.support.pageserver import PageServer

FIGURES = ("p50", "p90", "p99")


def requests_by_route(gateway_url: str) -> Counter[tuple[str, str]]:
    """(method, route) -> requests, from the gateway's Prometheus counters."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in httpx.get(f"{gateway_url}/metrics").text.splitlines():
        if line.startswith("#") or "_total{" not in line or "route=" not in line:
            continue
        method = re.search(r'method="([^"]+)"', line)
        route = re.search(r'route="([^"]+)"', line)
        if method and route:
            counts[(method.group(1), route.group(1))] += float(line.rsplit(" ", 1)[1])
    return counts


async def test_load_50_tasks_all_complete_and_figures_are_printed(
    agentctl: Run, pages: PageServer, gateway_url: str, db: asyncpg.Pool
) -> None:
    before = requests_by_route(gateway_url)
    result = agentctl(
        "load",
        "--tasks",
        "50",
        "--url",
        pages.url("/pages/wikipedia.html"),
        "--concurrency",
        "10",
        "--timeout",
        "240",
        timeout=300,
    )
    after = requests_by_route(gateway_url)
    print(result.out)  # the figures, for the record (pytest -s)
    assert result.code == 0, result.err
    assert "50 completed, 0 failed, 0 cancelled, 0 unfinished, 0 refused of 50" in result.out
    assert re.search(r"throughput\s+\d+(\.\d+)? tasks/s", result.out)
    for figure in FIGURES:
        assert re.search(rf"{figure} \d+(\.\d+)?s", result.out), figure  # task latency
        assert re.search(rf"{figure} \d+(\.\d+)?ms", result.out), figure  # submit latency
    assert "50/50" in result.err  # the progress bar's last state
    # followed with the list endpoint: no GET per task (polling each of 50 tasks would make
    # 50 or more; the counter is the shared gateway's, so another test's late poll may add one)
    assert after[("POST", "/api/task")] - before[("POST", "/api/task")] == 50
    assert after[("GET", "/api/tasks/{id}")] - before[("GET", "/api/tasks/{id}")] < 5
    assert after[("GET", "/api/tasks")] > before[("GET", "/api/tasks")]
    rows = await db.fetch(
        "SELECT user_id, status, result FROM tasks WHERE title LIKE 'load %/50'"
        " AND created_at > now() - interval '5 minutes'"
    )
    assert len(rows) == 50 and {r["status"] for r in rows} == {"completed"}
    assert len({r["user_id"] for r in rows}) == 1  # one throw-away user per 200 tasks
    assert all(r["result"].startswith("Summary:") for r in rows)


def test_load_json_shape(agentctl: Run, pages: PageServer) -> None:
    result = agentctl(
        "--json",
        "load",
        "--tasks",
        "6",
        "--url",
        pages.url("/pages/wikipedia.html"),
        "--concurrency",
        "3",
        timeout=180,
    )
    assert result.code == 0, result.err
    report = result.json()
    assert set(report) >= {
        "tasks",
        "url",
        "concurrency",
        "users",
        "submitted",
        "rejected",
        "unsent",
        "completed",
        "failed",
        "cancelled",
        "unfinished",
        "cancelled_at_timeout",
        "timed_out",
        "rate_limited_retries",
        "wall_s",
        "submit_s",
        "span_s",
        "throughput_per_s",
        "latency_s",
        "submit_latency_ms",
        "errors",
    }
    assert (report["tasks"], report["submitted"], report["completed"], report["users"]) == (6, 6, 6, 1)
    assert report["timed_out"] is False and report["errors"] == []
    assert set(report["latency_s"]) == {"p50", "p90", "p99", "max"}
    lat = report["latency_s"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] <= report["wall_s"]
    assert report["throughput_per_s"] > 0
    assert "load" not in result.err  # no progress bar with --json


async def test_load_is_bounded_in_time_and_cancels_what_is_left(
    agentctl: Run, pages: PageServer, db: asyncpg.Pool
) -> None:
    slow = pages.url("/slow/wikipedia.html?delay=6")
    result = agentctl("--json", "load", "--tasks", "4", "--url", slow, "--timeout", "2", timeout=60)
    assert result.code == 7
    assert "not every task finished within the timeout" in result.err
    report = result.json()
    assert report["timed_out"] is True and report["completed"] == 0
    assert report["cancelled_at_timeout"] == 4 and report["wall_s"] < 10
    rows = await db.fetch("SELECT status FROM tasks WHERE description = $1", f"Summarize {slow}")
    assert [r["status"] for r in rows] == ["cancelled"] * 4


def test_load_with_failing_tasks_exits_1_and_names_the_error(agentctl: Run, pages: PageServer) -> None:
    result = agentctl("load", "--tasks", "3", "--url", pages.url("/status/404"), timeout=120)
    assert result.code == 1
    assert "3 failed" in result.out
    assert "3 × fetch_url failed" in result.out and "404" in result.out
