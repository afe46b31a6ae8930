"""What the fault and load tests share: a client of the public API that records every
answer, a bounded wait on PostgreSQL for tasks to finish, and the stack's repair."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx

from agent_common.devstack import Stack
from agent_common.devstack.processes import ServiceProcess, http_status
from tests.reliability import rawhttp

TERMINAL = ("completed", "failed", "cancelled")
# no request may take longer than this, whatever is down (the "never hang" bound)
CLIENT_TIMEOUT_S = 15.0
TEXT = (
    "Redis streams are an append-only log. Consumer groups share the messages among workers. "
    "A message is acknowledged once handled. A dead worker's messages are claimed again. "
)


@dataclass
class Answer:
    """One request's outcome: status (0 when no HTTP answer came), latency, when."""

    kind: str
    status: int
    seconds: float
    at: float
    retry_after: str | None = None
    error: str = ""
    body: Any = None


@dataclass
class Session:
    token: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """The public API through the gateway. Every answer is kept in `answers`."""

    base: str
    max_connections: int = 200
    timeout: float = CLIENT_TIMEOUT_S
    raw: bool = False  # a connection per request (tests/reliability/rawhttp.py), for load
    answers: list[Answer] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # task ids answered 202
    http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Api:
        limits = httpx.Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )
        self.http = httpx.AsyncClient(base_url=self.base, timeout=self.timeout, limits=limits)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self.http is not None
        await self.http.aclose()

    async def call(self, kind: str, method: str, path: str, **kwargs: Any) -> Answer:
        if self.raw:
            return await self._call_raw(kind, method, path, **kwargs)
        assert self.http is not None
        started = time.monotonic()
        try:
            r = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            answer = Answer(kind, 0, time.monotonic() - started, started, error=f"timeout {exc!r}")
        except httpx.TransportError as exc:
            answer = Answer(kind, 0, time.monotonic() - started, started, error=f"transport {exc!r}")
        else:
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
            answer = Answer(
                kind,
                r.status_code,
                time.monotonic() - started,
                started,
                r.headers.get("retry-after"),
                body=body,
            )
        self.answers.append(answer)
        return answer

    async def _call_raw(self, kind: str, method: str, path: str, **kwargs: Any) -> Answer:
        started = time.monotonic()
        try:
            status, headers, body = await rawhttp.request(
                self.base,
                method,
                path,
                headers=kwargs.get("headers"),
                json_body=kwargs.get("json"),
                timeout=self.timeout,
            )
        except (OSError, TimeoutError, ValueError, IndexError) as exc:
            answer = Answer(kind, 0, time.monotonic() - started, started, error=f"transport {exc!r}")
        else:
            answer = Answer(
                kind, status, time.monotonic() - started, started, headers.get("retry-after"), body=body
            )
        self.answers.append(answer)
        return answer

    async def session(self) -> Session:
        answer = await self.call("session", "POST", "/api/session")
        assert answer.status == 201, answer
        return Session(answer.body["session_token"], answer.body["user_id"])

    async def sessions(self, n: int) -> list[Session]:
        return list(await asyncio.gather(*(self.session() for _ in range(n))))

    async def submit(self, session: Session, description: str, title: str = "t") -> Answer:
        answer = await self.call(
            "task",
            "POST",
            "/api/task",
            headers=session.headers,
            json={"title": title, "description": description},
        )
        if answer.status == 202:
            self.accepted.append(answer.body["task_id"])
        return answer

    async def chat(self, session: Session, message: str) -> Answer:
        return await self.call(
            "chat", "POST", "/api/chat", headers=session.headers, json={"message": message}
        )

    def statuses(self, since: float = 0.0, kind: str | None = None) -> Counter[int]:
        return Counter(a.status for a in self.answers if a.at >= since and (kind is None or a.kind == kind))


def no_server_errors(answers: list[Answer]) -> None:
    """Every answer is a success, a client error or a 503 that says when to retry: never a
    500, never a hang (a missing answer)."""
    bad = [a for a in answers if a.status == 0 or a.status >= 500 and (a.status != 503 or not a.retry_after)]
    assert not bad, f"{len(bad)} bad answers, e.g. {bad[:5]}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def wait_tasks(pool: asyncpg.Pool, ids: list[str], timeout: float) -> Counter[str]:
    """Poll PostgreSQL until every task is terminal (bounded); the count by status."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await pool.fetch(
            "SELECT status, count(*) AS n FROM tasks WHERE task_id = ANY($1::uuid[]) GROUP BY status", ids
        )
        counts = Counter({r["status"]: r["n"] for r in rows})
        if sum(counts[s] for s in TERMINAL) == len(ids) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.25)


async def step_rows(pool: asyncpg.Pool, ids: list[str]) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT task_id::text, seq, type, status, attempts, output IS NOT NULL AS has_output"
        " FROM task_steps WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, seq",
        ids,
    )


# ---- the stack ------------------------------------------------------------------------------


def ready(proc: ServiceProcess) -> bool:
    return proc.alive() and (proc.ready_url is None or http_status(proc.ready_url) == 200)


def heal(stack: Stack, workers: int = 2) -> None:
    """Start whatever is down, put back the regular number of workers, wait until ready."""
    if stack.pg.proc is None or stack.pg.proc.poll() is not None:
        stack.pg.start()
    if stack.redis.proc is None or stack.redis.proc.poll() is not None:
        stack.redis.start()
    for proc in stack.services.values():
        if not proc.alive():
            proc.start()
    for extra in stack.workers[workers:]:
        extra.stop(5)
    del stack.workers[workers:]
    for proc in stack.workers:
        if not proc.alive():
            proc.start()
    for proc in stack.all_processes():
        proc.wait_ready(30)


def kill9(proc: ServiceProcess) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.proc is not None
    proc.proc.wait(10)


def sigterm(proc: ServiceProcess) -> None:
    os.kill(proc.pid, signal.SIGTERM)


async def wait_ready(urls: list[str], timeout: float) -> float:
    """Seconds until every URL answers 200 (bounded)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() - started < timeout:
            codes = []
            for url in urls:
                try:
                    codes.append((await http.get(url)).status_code)
                except httpx.HTTPError:
                    codes.append(0)
            if all(c == 200 for c in codes):
                return time.monotonic() - started
            await asyncio.sleep(0.1)
    raise AssertionError(f"not ready after {timeout}s: {dict(zip(urls, codes, strict=True))}")


def ready_urls(stack: Stack) -> list[str]:
    return [p.ready_url for p in stack.all_processes() if p.ready_url]


FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.txt"


def report(name: str, **figures: object) -> None:
    """A scenario's figures on one line: printed (pytest -s) and appended to
    test-artifacts/reliability.txt with the machine's load, since they depend on it."""
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    line = f"[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items()) + f", load={load}"
    print("\n" + line, flush=True)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as out:
        out.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")


async def steady_load(
    api: Api, sessions: list[Session], *, per_s: float, seconds: float, description: Any, reads: bool = True
) -> None:
    """Submit a task every 1/per_s seconds for `seconds` (and, if `reads`, list the
    session's latest tasks), without waiting for answers before the next: a fault meets requests
    in flight. Bounded by count and time."""
    pending: list[asyncio.Task[Answer]] = []
    count = int(per_s * seconds)
    started = time.monotonic()
    for i in range(count):
        session = sessions[i % len(sessions)]
        pending.append(asyncio.create_task(api.submit(session, description(i))))
        if reads:
            pending.append(
                asyncio.create_task(api.call("read", "GET", "/api/tasks?limit=5", headers=session.headers))
            )
        await asyncio.sleep(max(0.0, started + (i + 1) / per_s - time.monotonic()))
    await asyncio.gather(*pending)


TCP_STATES = {
    "01": "ESTABLISHED",
    "06": "TIME_WAIT",
    "08": "CLOSE_WAIT",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "07": "CLOSE",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "02": "SYN_SENT",
}


def sockets_to(pid: int, port: int) -> Counter[str]:
    """The states of the TCP connections that process `pid` holds to local `port`
    (from /proc: its socket inodes, matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    states: Counter[str] = Counter()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        remote_port = int(cols[2].split(":")[1], 16)
        if remote_port == port and cols[9] in inodes:
            states[TCP_STATES.get(cols[3], cols[3])] += 1
    return states
