"""Clients for the integration suites: the orchestrator over HTTP, PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from agent_common.devstack import Stack


@pytest.fixture(scope="session")
async def orch(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url("orchestrator"), timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(stack.pg.url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def rds(stack: Stack) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(stack.redis.url, decode_responses=True)
    yield client
    await client.aclose()
