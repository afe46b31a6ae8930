"""Where a request's session token comes from: the per-target store (every command but
load) or memory (load's throw-away users). Both create a session on first use and a new
one when the gateway says the old one is no longer valid (401); a lock makes concurrent
requests share one creation instead of racing to make one user each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from agent_cli.errors import CliError, Exit, error_for
from agent_cli.session_store import SessionStore, StoredSession, config_dir


class SessionSource:
    """A session kept in memory only."""

    def __init__(self) -> None:
        self.current: StoredSession | None = None
        self._lock = asyncio.Lock()

    @property
    def user_id(self) -> str | None:
        return self.current.user_id if self.current else None

    async def token(self, http: httpx.AsyncClient) -> str:
        async with self._lock:
            if self.current is None or self.current.expired():
                await self._replace(http)
            assert self.current is not None
            return self.current.token

    async def renew(self, http: httpx.AsyncClient, refused: str | None = None) -> str:
        """A new session, unless a concurrent call already replaced the refused one."""
        async with self._lock:
            if self.current is None or refused is None or self.current.token == refused:
                await self._replace(http)
            assert self.current is not None
            return self.current.token

    async def _replace(self, http: httpx.AsyncClient) -> None:
        self.current = await create_session(http)
        self.saved(self.current)

    def saved(self, session: StoredSession) -> None:
        """Hook: the stored variant writes it down."""


class StoredSessionSource(SessionSource):
    """The target's session from sessions.json, written back whenever it changes."""

    def __init__(
        self, target: str, store: SessionStore | None = None, on_renew: Callable[[str], None] | None = None
    ) -> None:
        super().__init__()
        self.target = target
        self.store = store or SessionStore()
        self.on_renew = on_renew
        self.current = self.store.get(target)

    async def _replace(self, http: httpx.AsyncClient) -> None:
        had_one = self.current is not None
        await super()._replace(http)
        if had_one and self.on_renew:
            self.on_renew(self.target)

    def saved(self, session: StoredSession) -> None:
        try:
            self.store.put(self.target, session)
        except OSError as exc:
            raise CliError(
                Exit.SESSION,
                f"cannot save the session in {self.store.path}: {exc.strerror or exc}",
                f"make {config_dir()} writable, or set AGENTCTL_CONFIG_DIR to a folder that is",
            ) from exc


async def create_session(http: httpx.AsyncClient) -> StoredSession:
    """POST /api/session. Transport errors propagate (the client maps them)."""
    answer = await http.post("/api/session")
    if answer.status_code != 201:
        error = error_for(answer, "creating a session")
        if error.code in (Exit.RATE_LIMITED, Exit.SERVER_ERROR):
            raise error
        raise CliError(
            Exit.SESSION,
            f"the gateway would not create a session: {error.message}",
            "check the gateway's log; POST /api/session must answer 201",
            status=answer.status_code,
        )
    body = answer.json()
    return StoredSession(body["session_token"], body["user_id"], body.get("expires_at", ""))
