"""The Celery side of the pipeline benchmark: one no-op task, Redis broker and result
backend, acks_late (a task is acknowledged after it ran, as ours are)."""

from __future__ import annotations

import os

from celery import Celery

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")

app = Celery("bench", broker=f"{REDIS}/1", backend=f"{REDIS}/2")
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=4,
    task_ignore_result=False,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop() -> str:
    return "ok"
