"""`python -m agent_worker`: run steps from the stream; /health, /ready and /metrics on
METRICS_PORT (9100). SIGTERM stops reading and finishes the steps in hand."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

import httpx
import uvloop

from agent_common import db, tracing
from agent_common.checks import Check
from agent_common.logs import setup_logging
from agent_common.redisconn import create_redis
from agent_worker import memory
from agent_worker.health import HealthServer
from agent_worker.runner import Worker
from agent_worker.settings import WorkerSettings

log = logging.getLogger("agent.worker")


async def amain(settings: WorkerSettings) -> None:
    # A commit lost to a PostgreSQL crash (synchronous_commit off) is at most the last
    # fraction of a second of step records. The lost steps read as queued or processing
    # again and the reconciler puts them back on the stream, so they run again, which every
    # step tolerates. The steps after them may already have been sent (the message goes out
    # once the commit returns): a claim takes a step only when all the steps it depends on
    # are recorded as finished, so such a step is dropped, not run without its input, and
    # the lost step's second completion enqueues it again (agent_worker.store, _CLAIM).
    # Task creation, the promise made to a user, stays synchronous in the orchestrator.
    pool = await db.create_pool(
        settings, server_settings={"synchronous_commit": settings.db_synchronous_commit}
    )
    redis = create_redis(settings)
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.worker_concurrency * 2))
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    worker = Worker(settings, pool, redis, http, consumer)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)

    checks: dict[str, Check] = {
        "postgres": lambda: db.ping(worker.pool),
        "redis": lambda: worker.redis.ping(),
    }
    health = HealthServer(loop, checks, host=settings.host, port=settings.metrics_port)
    health.start()
    log.info("worker %s reading %s with concurrency %d", consumer, "task_queue", settings.worker_concurrency)
    try:
        await worker.run()
    finally:
        health.stop()
        await http.aclose()
        await redis.aclose()
        await pool.close()
    log.info("worker %s stopped", consumer)


def main() -> None:
    settings = WorkerSettings()
    setup_logging(settings)
    if settings.worker_malloc_arenas:
        memory.limit_arenas(settings.worker_malloc_arenas)
    tracing.setup(settings.service_name)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(amain(settings))


if __name__ == "__main__":
    main()
