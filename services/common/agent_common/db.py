"""The asyncpg connection pool, with JSON codecs so jsonb columns read and write dicts, and
the one set of errors that means "the database is unavailable, try again shortly"."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import asyncpg
import orjson

from agent_common.settings import Settings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A connection as callers hold it, from pool.acquire() (a proxy with the same methods) or
    # from asyncpg.connect(). For annotations only: asyncpg's classes take no type arguments
    # at run time.
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

# PostgreSQL cannot be reached or is refusing work for now: the socket failed or timed out,
# the connection broke (InterfaceError, class 08), the server is starting, shutting down or
# cancelled the query (class 57, operator intervention), or it is out of room (class 53:
# too many connections, disk full). A request gets 503 with Retry-After, a message is left
# for redelivery, a background job tries again later. Any other PostgresError is a bug or
# bad data, not an outage.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class Connection(asyncpg.Connection):
    """No reset query on release. asyncpg's default (unlock advisory locks, CLOSE ALL,
    UNLISTEN, RESET ALL) costs a round trip every time a pooled connection goes back, and
    our services hold none of those across a release: each query stands alone, and the
    migration command, the only user of advisory locks, has a connection of its own. An open
    transaction is still rolled back by asyncpg."""

    def get_reset_query(self) -> str:
        return ""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(settings: Settings, *, server_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """Open the pool with DB_POOL_MIN connections at once (the rest as needed): opening fails
    if the database does not answer then, which is why the default is 0 (see Settings)."""
    return await asyncpg.create_pool(
        settings.database_url,
        server_settings=server_settings,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=settings.db_connect_timeout_s,
        command_timeout=settings.db_command_timeout_s,
        init=_init_connection,
        connection_class=Connection,
        # statements are cached per connection: the hot paths run the same few queries
        statement_cache_size=256,
    )


async def ping(pool: asyncpg.Pool, timeout: float = 2.0) -> None:
    """Raise unless a connection can be acquired and answers a trivial query."""
    async with pool.acquire(timeout=timeout) as conn:
        await conn.fetchval("SELECT 1", timeout=timeout)
