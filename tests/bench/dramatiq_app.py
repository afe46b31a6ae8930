"""The Dramatiq side of the pipeline benchmark: one no-op actor, Redis broker, results
stored in Redis by the Results middleware."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")

broker = RedisBroker(url=f"{REDIS}/3")
broker.add_middleware(Results(backend=RedisBackend(url=f"{REDIS}/4")))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True, max_retries=0)
def noop() -> str:
    return "ok"
