"""Per-session token bucket in Redis (3 requests, refilled at 0.5/s in these gateways), the
per-address limit on creating sessions, and what happens when Redis is down."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import redis.asyncio as aioredis

from agent_common.devstack import Stack
from tests.gateway.conftest import Gateway, Session, new_session

Http = httpx.AsyncClient
CAPACITY = 3


async def _burst(client: Http, base: str, session: Session, count: int) -> list[httpx.Response]:
    return [await client.get(f"{base}/api/tasks", headers=session.bearer) for _ in range(count)]


async def test_bucket_runs_dry_with_429_and_retry_after(client: Http, gateways: dict[str, Gateway]) -> None:
    base = gateways["limited"].url
    session = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.1"})
    answers = await _burst(client, base, session, CAPACITY + 1)
    assert [a.status_code for a in answers] == [200] * CAPACITY + [429]
    refused = answers[-1]
    assert refused.json() == {"detail": "too many requests: slow down"}
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 2  # one token at 0.5 per second
    await asyncio.sleep(retry_after)
    assert (await client.get(f"{base}/api/tasks", headers=session.bearer)).status_code == 200


async def test_buckets_are_per_session(client: Http, gateways: dict[str, Gateway]) -> None:
    base = gateways["limited"].url
    first = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.2"})
    second = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.2"})
    assert (await _burst(client, base, first, CAPACITY + 1))[-1].status_code == 429
    assert [a.status_code for a in await _burst(client, base, second, CAPACITY)] == [200] * CAPACITY


async def test_the_bucket_lives_in_redis_keyed_by_the_token_hash(
    client: Http, gateways: dict[str, Gateway], infra: Stack
) -> None:
    base = gateways["limited"].url
    session = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.3"})
    await client.get(f"{base}/api/tasks", headers=session.bearer)
    redis = aioredis.Redis.from_url(infra.redis.url, decode_responses=True)
    try:
        key = "rl:s:" + hashlib.sha256(session.token.encode()).hexdigest()
        state = await redis.hgetall(key)
        assert float(state["t"]) < CAPACITY
        assert 0 < await redis.pttl(key) <= (CAPACITY / 0.5 + 1) * 1000
        assert not [k async for k in redis.scan_iter(match=f"*{session.token}*")]
    finally:
        await redis.aclose()


async def test_concurrent_requests_never_take_more_than_the_bucket(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    base = gateways["limited"].url
    session = await new_session(client, base, headers={"X-Forwarded-For": "192.0.2.4"})
    answers = await asyncio.gather(
        *(client.get(f"{base}/api/tasks", headers=session.bearer) for _ in range(12))
    )
    assert sorted(a.status_code for a in answers).count(200) == CAPACITY


async def test_creating_sessions_is_limited_per_client_address(
    client: Http, gateways: dict[str, Gateway]
) -> None:
    """This gateway trusts one proxy hop, so the client is the X-Forwarded-For entry."""
    base = gateways["limited"].url
    answers = [
        await client.post(f"{base}/api/session", headers={"X-Forwarded-For": "198.51.100.9"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    other = await client.post(f"{base}/api/session", headers={"X-Forwarded-For": "198.51.100.10"})
    assert other.status_code == 201


async def test_redis_down_falls_back_to_a_local_bucket(client: Http, gateways: dict[str, Gateway]) -> None:
    """Default policy: the API stays up and the limit still holds, per replica."""
    base = gateways["noredis"].url
    session = await new_session(client, base)
    answers = await _burst(client, base, session, CAPACITY + 1)
    assert [a.status_code for a in answers] == [200] * CAPACITY + [429]
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_redis_down_with_the_closed_policy_is_503(client: Http, gateways: dict[str, Gateway]) -> None:
    base = gateways["closed"].url
    created = await client.post(f"{base}/api/session")
    assert created.status_code == 503  # creating a session is rate limited too
    assert created.json() == {"detail": "rate limiter unavailable, try again shortly"}
    assert created.headers["retry-after"] == "2"
    # a session made elsewhere (same database) is refused here too
    session = await new_session(client, gateways["echo"].url)
    answer = await client.get(f"{base}/api/tasks", headers=session.bearer)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
