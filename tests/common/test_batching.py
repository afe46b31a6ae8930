"""Group commit (agent_common.batching): what goes together, and what happens on failure."""

from __future__ import annotations

import asyncio

import pytest

from agent_common.batching import Batcher


class Recorder:
    """A write that records its batches and can be held open or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.bad: set[int] = set()

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.bad & set(items):
            raise ValueError(f"bad item in {items}")
        return [i * 10 for i in items]


async def test_items_of_one_turn_leave_together_in_order() -> None:
    rec = Recorder()
    batcher = Batcher(rec.write)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert rec.batches == [[0, 1, 2, 3, 4]]


async def test_items_wait_for_the_batch_in_flight_and_then_leave_as_one() -> None:
    rec = Recorder()
    rec.gate.clear()
    batcher = Batcher(rec.write, max_items=3)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.submit(i)) for i in range(2, 7)]
    await asyncio.sleep(0.01)
    assert rec.batches == [[1]]  # one in flight at a time
    rec.gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40, 50, 60]
    assert rec.batches == [[1], [2, 3, 4], [5, 6]]  # max_items caps each batch


async def test_a_failed_batch_fails_every_caller_unless_isolated() -> None:
    rec = Recorder()
    rec.bad = {2}
    plain = Batcher(rec.write)
    outcomes = await asyncio.gather(*(plain.submit(i) for i in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(o, ValueError) for o in outcomes)

    isolating = Batcher(rec.write, isolate=lambda exc: isinstance(exc, ValueError))
    outcomes = await asyncio.gather(*(isolating.submit(i) for i in (1, 2, 3)), return_exceptions=True)
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)


async def test_the_batcher_keeps_working_after_a_failure() -> None:
    rec = Recorder()
    rec.bad = {1}
    batcher = Batcher(rec.write)
    with pytest.raises(ValueError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 20
