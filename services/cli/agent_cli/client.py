"""The gateway's public API over httpx: a session on every call (renewed once on 401),
transport and HTTP errors turned into CliErrors, 429 waited out when the caller allows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from agent_cli.errors import CliError, Exit, error_for, retry_after
from agent_cli.sessions import SessionSource
from agent_cli.sse import events

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
CHAT_TIMEOUT = httpx.Timeout(150.0, connect=5.0)  # the gateway gives chat 120 s


class ApiClient:
    def __init__(
        self, base_url: str, sessions: SessionSource, *, unreachable_hint: str = "", max_connections: int = 20
    ) -> None:
        self.base_url = base_url
        self.sessions = sessions
        self.unreachable_hint = unreachable_hint
        self.rate_limited = 0  # 429s waited out (load reports them)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # trust_env=False: a proxy set for the internet must not capture localhost/port-forward calls
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=TIMEOUT,
            limits=limits,
            trust_env=False,
            headers={"user-agent": "agentctl/0.1"},
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    @property
    def user_id(self) -> str | None:
        return self.sessions.user_id

    async def ensure_session(self) -> str:
        """The session's user id, creating the session if there is none yet."""
        await self._guard(self.sessions.token(self.http), "creating a session")
        assert self.sessions.user_id is not None
        return self.sessions.user_id

    async def call(
        self,
        method: str,
        path: str | Callable[[], str],
        doing: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        wait_until: float | None = None,
    ) -> Any:
        """One API call; its JSON answer. With `wait_until` (a time.monotonic() deadline),
        a 429 is waited out (Retry-After) as long as the wait ends before the deadline.
        A callable path is built per attempt (it may hold the user id, which a renewal changes)."""
        renewed = False
        while True:
            url = path() if callable(path) else path
            token = await self._guard(self.sessions.token(self.http), "creating a session")
            answer = await self._send(method, url, token, doing, json=json, params=params)
            if answer.status_code == 401 and not renewed:
                renewed = True
                await self._guard(self.sessions.renew(self.http, token), "renewing the session")
                continue
            if answer.status_code == 429 and await self._wait_out(answer, wait_until):
                continue
            if answer.is_success:
                return answer.json()
            raise error_for(answer, doing)

    async def chat_stream(self, message: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """POST /api/chat as an event stream: (event, data) pairs as they arrive."""
        for attempt in (1, 2):
            token = await self._guard(self.sessions.token(self.http), "creating a session")
            request = self.http.build_request(
                "POST",
                "/api/chat",
                json={"message": message},
                timeout=CHAT_TIMEOUT,
                headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
            )
            answer = await self._guard(self.http.send(request, stream=True), "sending the message")
            try:
                if answer.status_code == 401 and attempt == 1:
                    await self._guard(self.sessions.renew(self.http, token), "renewing the session")
                    continue
                if not answer.is_success:
                    await answer.aread()
                    raise error_for(answer, "sending the message")
                async for item in self._guarded_events(answer):
                    yield item
                return
            finally:
                await answer.aclose()

    async def _guarded_events(self, answer: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        try:
            async for item in events(answer):
                yield item
        except httpx.TransportError as exc:
            raise self._unreachable("streaming the answer", str(exc) or exc.__class__.__name__) from exc

    async def _send(self, method: str, path: str, token: str, doing: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        timeout = CHAT_TIMEOUT if path.startswith("/api/chat") else TIMEOUT
        return await self._guard(
            self.http.request(method, path, headers=headers, timeout=timeout, **kwargs), doing
        )

    async def _wait_out(self, answer: httpx.Response, wait_until: float | None) -> bool:
        wait = retry_after(answer)
        if wait_until is None or time.monotonic() + wait > wait_until:
            return False
        self.rate_limited += 1
        await asyncio.sleep(max(wait, 0.05))
        return True

    async def _guard(self, pending: Any, doing: str) -> Any:
        """Await `pending`, turning transport failures into CliErrors that say what to do."""
        try:
            return await pending
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise self._unreachable(doing, "connection timed out") from exc
            raise CliError(
                Exit.SERVER_ERROR,
                f"the gateway at {self.base_url} did not answer in time while {doing}",
                "`agentctl health` shows which service is slow or down",
            ) from exc
        except httpx.TransportError as exc:
            raise self._unreachable(doing, str(exc) or exc.__class__.__name__) from exc

    def _unreachable(self, doing: str, why: str) -> CliError:
        return CliError(
            Exit.UNREACHABLE,
            f"cannot reach the gateway at {self.base_url} while {doing} ({why})",
            self.unreachable_hint or None,
        )
