"""Group commit for the worker's PostgreSQL writes: the steps in flight share their claims
and their completion records, one statement per batch instead of one per step."""

from __future__ import annotations

import asyncpg

from agent_common.batching import Batcher
from agent_worker import store


class Records:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._claims: Batcher[store.ClaimRequest, store.ClaimedStep | None] = Batcher(
            lambda requests: store.claim(pool, requests)
        )
        self._completions: Batcher[store.Completion, store.Outcome] = Batcher(
            lambda done: store.complete(pool, done)
        )

    async def claim(self, request: store.ClaimRequest) -> store.ClaimedStep | None:
        return await self._claims.submit(request)

    async def complete(self, completion: store.Completion) -> store.Outcome:
        return await self._completions.submit(completion)
