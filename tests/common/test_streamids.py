"""Stream ids are written beside the steps without ever waiting for a row lock.

The bug this holds: the orchestrator's background write of stream ids (many rows in one
UPDATE) and a worker's batched claim (many rows in one UPDATE) locked some of the same rows
in different orders; PostgreSQL broke the cycle by failing the claim, and its steps waited
out the visibility timeout (seen as a 30 s stall in the pipeline benchmark)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from agent_common.streamids import StreamIdRecorder
from tests.support.tasks import new_user, submit, wait_done

LOCK = "SELECT 1 FROM task_steps WHERE task_id = $1 AND seq = 0 FOR UPDATE"


async def _step_rows(orch: httpx.AsyncClient, count: int) -> list[str]:
    user = new_user()
    ids = [
        await submit(orch, user, f"Text number {i} to summarize. It has two sentences.") for i in range(count)
    ]
    await wait_done(orch, user, ids)
    return ids


async def _stream_id(db: asyncpg.Pool, task_id: str) -> str | None:
    return await db.fetchval("SELECT stream_id FROM task_steps WHERE task_id = $1 AND seq = 0", task_id)


async def test_a_locked_row_is_skipped_now_and_written_later(
    orch: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    locked_task, free_task = await _step_rows(orch, 2)
    recorder = StreamIdRecorder(db)
    recorder.add(uuid.UUID(free_task), 0, "9-1")
    recorder.add(uuid.UUID(locked_task), 0, "9-2")
    async with db.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        # as a claim in flight holds it
        await holder.execute(LOCK, locked_task)
        # the old write waited here for the lock, holding the free row meanwhile
        await asyncio.wait_for(recorder.flush(), timeout=3)
        assert await _stream_id(db, free_task) == "9-1"
        assert recorder.pending == 1
        # the holder can now take the row the recorder wrote: nobody waits on anybody
        await asyncio.wait_for(holder.execute(LOCK, free_task), timeout=3)
        await tx.rollback()
    await recorder.flush()
    assert await _stream_id(db, locked_task) == "9-2"
    assert recorder.pending == 0
