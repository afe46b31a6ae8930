"""The upstreams report (GET /api/upstreams): each upstream's /ready and the task stream's
backlog. It probes every upstream and pings Redis, so it is made at most once per
UPSTREAMS_REPORT_TTL_S per replica (callers in between share it), and the upstreams'
internal URLs are left out unless UPSTREAMS_REPORT_URLS is on."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import suppress
from typing import Any

import httpx
from redis.exceptions import RedisError, ResponseError

from agent_common import queue
from agent_gateway.state import UPSTREAM_NAMES, GatewayState


class SharedReport:
    """The upstreams report, made once per UPSTREAMS_REPORT_TTL_S for every caller."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.made_at = 0.0
        self.value: dict[str, Any] | None = None
        self.making: asyncio.Future[dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        ttl = self.state.settings.upstreams_report_ttl_s
        if self.value is not None and time.monotonic() - self.made_at < ttl:
            return self.value
        if self.making is None:
            self.making = asyncio.ensure_future(self._make())
        making = self.making
        try:
            return await asyncio.shield(making)
        finally:
            if self.making is making and making.done():
                self.making = None

    async def _make(self) -> dict[str, Any]:
        state = self.state
        probes = await asyncio.gather(*(_probe(state, name) for name in UPSTREAM_NAMES))
        value = {
            "upstreams": dict(zip(UPSTREAM_NAMES, probes, strict=True)),
            "queue": await _queue_report(state),
        }
        self.value, self.made_at = value, time.monotonic()
        return value


async def _probe(state: GatewayState, name: str) -> dict[str, Any]:
    url = state.upstream_url(name)
    # internal addresses are for operators: only when they asked for them
    report: dict[str, Any] = {"url": url} if state.settings.upstreams_report_urls else {}
    try:
        answer = await state.http.get(url.rstrip("/") + "/ready")
    except httpx.HTTPError as exc:
        return {**report, "ready": False, "error": exc.__class__.__name__}
    report.update(ready=answer.status_code == 200, status=answer.status_code)
    with suppress(ValueError):
        report["checks"] = answer.json().get("checks")
    return report


async def _queue_report(state: GatewayState) -> dict[str, Any]:
    """Backlog of the task stream: its length and the workers group's pending count and lag."""
    report: dict[str, Any] = {"stream": queue.STREAM, "group": queue.GROUP}
    assert state.redis is not None
    try:
        stats = await queue.stats(state.redis)
    except ResponseError:  # no stream yet: nothing was ever queued
        return {**report, "length": 0, "pending": 0, "lag": 0, "consumers": 0, "dead": 0}
    except RedisError as exc:
        return {**report, "error": f"redis unavailable ({exc.__class__.__name__})"}
    return {**report, **dataclasses.asdict(stats)}
