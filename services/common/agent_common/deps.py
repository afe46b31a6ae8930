"""Dependencies every service's routes share. A service's lifespan opens its resources and
keeps them on `app.state`; routes receive them through these (FastAPI's Depends), so a test
can hand a route another real object with `app.dependency_overrides`. They are coroutines:
FastAPI would run a plain function in its thread pool, on every request."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, Request

from agent_common.checks import Check


async def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def get_redis(request: Request) -> aioredis.Redis:
    redis: aioredis.Redis = request.app.state.redis
    return redis


async def get_checks(request: Request) -> dict[str, Check]:
    """What /ready checks (set by the lifespan; nothing before it ran)."""
    return getattr(request.app.state, "checks", {})


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
ChecksDep = Annotated[dict[str, Check], Depends(get_checks)]
