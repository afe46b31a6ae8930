"""Which stream message carries each step: written in the background, many at a time.

The reconciler compares these ids with the stream to find steps no stream holds. A step
whose id is not written yet is simply younger than the reconciler's minimum age, so the
write can trail the XADD by a moment and go in batches, off the request's path.

The write never waits for a row lock: a worker's batched claim may hold some of the same
rows while it waits for others, and two multi-row updates that wait on each other are a
deadlock (PostgreSQL then fails one of them, and a failed claim leaves its steps to the
visibility timeout). Rows that are locked just now are written at a later flush."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg

log = logging.getLogger("agent.streamids")

# the rows free to lock now, and only those (SKIP LOCKED); returns the rows written
UPDATE_UNLOCKED = """
WITH v AS (
    SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::text[]) AS v(tid, seq, sid)
), free AS (
    SELECT s.task_id, s.seq, v.sid FROM task_steps s JOIN v ON s.task_id = v.tid AND s.seq = v.seq
       FOR UPDATE OF s SKIP LOCKED
)
UPDATE task_steps s SET stream_id = free.sid{extra}
  FROM free
 WHERE s.task_id = free.task_id AND s.seq = free.seq
RETURNING s.task_id, s.seq
"""
_UPDATE = UPDATE_UNLOCKED.format(extra="")
MAX_TRIES = 100  # flushes a locked row is tried at (5 s at the default interval); then left


class StreamIdRecorder:
    def __init__(self, pool: asyncpg.Pool, *, interval_s: float = 0.05) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._rows: list[tuple[uuid.UUID, int, str, int]] = []  # (task, seq, id, tries)

    def add(self, task_id: uuid.UUID, seq: int, stream_id: str) -> None:
        self._rows.append((task_id, seq, stream_id, 0))

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            written = await self.pool.fetch(
                _UPDATE, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            )
        except Exception:
            self._rows[:0] = rows  # whatever failed, they are kept for the next flush
            raise
        done = {(r["task_id"], r["seq"]) for r in written}
        # locked just now (or gone): again at the next flush, a bounded number of times; an
        # id never written only makes the reconciler put one harmless copy on the stream
        later = [
            (t, s, sid, tries + 1)
            for t, s, sid, tries in rows
            if (t, s) not in done and tries + 1 < MAX_TRIES
        ]
        self._rows[:0] = later

    async def run(self) -> None:
        """Flush every interval until cancelled; then flush what is left."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await self.flush()
                except Exception as exc:  # the reconciler copes with missing ids; keep going
                    log.warning("could not record stream ids yet: %s", exc)
        finally:
            try:
                await self.flush()
            except Exception as exc:
                log.warning("stream ids not recorded at shutdown: %s", exc)
