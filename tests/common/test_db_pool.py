"""The services' PostgreSQL pool: DB_POOL_MIN is honoured, and its default lets a service
start while the database is away."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from agent_common import db
from agent_common.devstack import Stack, free_port
from agent_common.settings import Settings

APP = "pool-min-test"


async def _connections(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        return int(await conn.fetchval(query, APP))
    finally:
        await conn.close()


async def test_db_pool_min_connections_are_open_from_the_start(infra: Stack) -> None:
    settings = Settings(database_url=infra.pg.url, db_pool_min=3, db_pool_max=5)
    pool = await db.create_pool(settings, server_settings={"application_name": APP})
    try:
        assert await _connections(infra.pg.url) == 3
    finally:
        await pool.close()
    assert await _connections(infra.pg.url) == 0


async def test_by_default_the_pool_opens_while_the_database_is_away() -> None:
    settings = Settings(database_url=f"postgresql://agent:agent@127.0.0.1:{free_port()}/agent")
    assert settings.db_pool_min == 0
    pool = await db.create_pool(settings)
    try:
        with pytest.raises(db.UNAVAILABLE):
            await db.ping(pool, timeout=1.0)
    finally:
        await pool.close()


def test_a_pool_minimum_above_its_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="DB_POOL_MIN"):
        Settings(db_pool_min=4, db_pool_max=2)
