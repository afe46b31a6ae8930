"""The Redis client every service uses (text responses, bounded timeouts)."""

from __future__ import annotations

import redis.asyncio as aioredis

from agent_common.settings import Settings


def create_redis(settings: Settings, *, max_connections: int = 64) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        socket_timeout=settings.redis_socket_timeout_s,
        health_check_interval=30,
        max_connections=max_connections,
    )
