"""The asyncpg connection pool, with JSON codecs so jsonb columns read and write dicts."""

from __future__ import annotations

import asyncpg
import orjson

from agent_common.settings import Settings


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


async def create_pool(settings: Settings, *,
                      server_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """Open the pool. Connections are made lazily beyond `db_pool_min`, so a service
    whose database is still starting comes up and reports not-ready instead of crashing."""
    return await asyncpg.create_pool(
        settings.database_url,
        server_settings=server_settings,
        min_size=0,
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
