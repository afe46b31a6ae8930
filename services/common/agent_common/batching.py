"""Group commit: many concurrent callers, one round trip.

Each caller awaits `submit(item)`. When nothing is being written, the item goes at the end
of the current event-loop turn, with whatever else was submitted in that turn (a quiet
system adds no latency; steps that finish together leave together); while a batch is in
flight, new items wait and leave together in the next one. Under load batches grow by
themselves to what one round trip can carry, which is what turns per-step PostgreSQL and
Redis round trips into per-batch ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`write(items)` must return one result per item, in order; if it raises, every
    caller of that batch gets the exception, unless `isolate(exc)` says the fault may lie
    with one item (bad data rather than a lost connection): then each item is written
    alone, so one bad item cannot fail the others."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_items: int = 256,
        in_flight: int = 1,
        isolate: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self._write = write
        self._isolate = isolate
        self._max_items = max_items
        self._slots = in_flight
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._busy = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._busy < self._slots:
            self._start()
        return await future

    def _start(self) -> None:
        self._busy += 1
        asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        # the batch is cut when the task runs, so it holds every item of the turn that started it
        batch, self._waiting = self._waiting[: self._max_items], self._waiting[self._max_items :]
        if not batch:
            self._busy -= 1
            return
        try:
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1 or self._isolate is None or not self._isolate(exc):
                    raise
                await self._one_by_one(batch)
                return
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._busy -= 1
            if self._waiting and self._busy < self._slots:
                self._start()

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        for item, future in batch:
            try:
                [result] = await self._write([item])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
