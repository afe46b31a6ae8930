"""Anonymous sessions: a random 32-byte token for the client, only its SHA-256 in PostgreSQL.

A request's session is looked up in a small in-process cache first, so the common request
costs no database round trip. The cache holds each answer for SESSION_CACHE_TTL_S: expiry
is still exact (the expiry time is cached with the user), but a session revoked through
another replica keeps working here for at most that long. Only live sessions are cached:
"no such session" is not, so tokens made up by a client can never evict real sessions
(the gateway limits failed lookups per client address instead).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field

import asyncpg

TOKEN_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet
_TOKEN_RE = re.compile(rb"^[A-Za-z0-9_-]{43}$")
COOKIE = "session"


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    expires_at: float  # epoch seconds
    token_hash: bytes
    bucket: str = field(init=False)  # the rate-limit key, made once per cached session

    def __post_init__(self) -> None:
        object.__setattr__(self, "bucket", "rl:s:" + self.token_hash.hex())


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def well_formed(token: bytes) -> bool:
    return _TOKEN_RE.match(token) is not None


def token_from_headers(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The session token from `Authorization: Bearer` (first) or the `session` cookie."""
    cookie: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
        elif name == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
    if cookie is None:
        return None
    for part in cookie.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == b"session":
            return value.strip(b'"')
    return None


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, *, ttl_s: int, cache_ttl_s: float, cache_max: int) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self.cache_ttl_s = cache_ttl_s
        self.cache_max = cache_max
        # token hash -> (live session, cached until (monotonic))
        self._cache: dict[bytes, tuple[Session, float]] = {}
        self._inflight: dict[bytes, asyncio.Future[Session | None]] = {}

    async def create(self) -> tuple[str, Session]:
        token = new_token()
        user_id = str(uuid.uuid4())
        token_hash = hash_token(token.encode())
        expires_at = await self.pool.fetchval(
            "INSERT INTO sessions (token_hash, user_id, expires_at)"
            " VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
            token_hash,
            user_id,
            float(self.ttl_s),
        )
        return token, Session(user_id, expires_at.timestamp(), token_hash)

    async def revoke(self, session: Session) -> None:
        await self.pool.execute(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
            session.token_hash,
        )
        self._cache.pop(session.token_hash, None)

    def cached(self, token_hash: bytes) -> tuple[bool, Session | None]:
        """(hit, session): the hot path, no await."""
        entry = self._cache.get(token_hash)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        session = entry[0]
        if session.expires_at <= time.time():
            return True, None
        return True, session

    def known(self, token: bytes) -> tuple[bool, Session | None]:
        """(answered without a query, session): malformed tokens and cached sessions."""
        if not well_formed(token):
            return True, None
        return self.cached(hash_token(token))

    async def lookup(self, token: bytes) -> Session | None:
        """The live session for a token, or None (unknown, expired or revoked)."""
        if not well_formed(token):
            return None
        token_hash = hash_token(token)
        hit, session = self.cached(token_hash)
        if hit:
            return session
        # one query per token however many requests wait for it
        pending = self._inflight.get(token_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self._inflight[token_hash] = future
        try:
            session = await self._load(token_hash)
            future.set_result(session)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._inflight[token_hash]
        self._remember(token_hash, session)
        return session

    async def _load(self, token_hash: bytes) -> Session | None:
        row = await self.pool.fetchrow(
            "SELECT user_id, expires_at FROM sessions"
            " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
            token_hash,
        )
        return None if row is None else Session(row["user_id"], row["expires_at"].timestamp(), token_hash)

    def _remember(self, token_hash: bytes, session: Session | None) -> None:
        if session is None or self.cache_ttl_s <= 0:
            return
        cache = self._cache
        cache.pop(token_hash, None)
        while len(cache) >= self.cache_max:  # oldest entry first (dicts keep insertion order)
            del cache[next(iter(cache))]
        cache[token_hash] = (session, time.monotonic() + self.cache_ttl_s)

    async def count_live(self) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now()"
            )
        )

    async def delete_expired(self, older_than_s: float) -> int:
        result = await self.pool.execute(
            "DELETE FROM sessions WHERE expires_at < now() - make_interval(secs => $1)", older_than_s
        )
        return int(result.split()[-1])
