"""Which stream message carries each step: written in the background, many at a time.

The reconciler compares these ids with the stream to find steps no stream holds. A step
whose id is not written yet is simply younger than the reconciler's minimum age, so the
write can trail the XADD by a moment and go in batches, off the request's path."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg

log = logging.getLogger("agent.streamids")

_UPDATE = (
    "UPDATE task_steps s SET stream_id = v.sid"
    " FROM unnest($1::uuid[], $2::smallint[], $3::text[]) AS v(tid, seq, sid)"
    " WHERE s.task_id = v.tid AND s.seq = v.seq"
)


class StreamIdRecorder:
    def __init__(self, pool: asyncpg.Pool, *, interval_s: float = 0.05) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._rows: list[tuple[uuid.UUID, int, str]] = []

    def add(self, task_id: uuid.UUID, seq: int, stream_id: str) -> None:
        self._rows.append((task_id, seq, stream_id))

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            await self.pool.execute(_UPDATE, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            self._rows[:0] = rows  # keep them for the next flush
            raise

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
