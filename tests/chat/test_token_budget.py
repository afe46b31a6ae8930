"""The daily LLM token budget per session (agent_common.llm.budget), in a chat service of
its own on the OpenAI stand-in. Each model call reserves its prompt (a token per three
characters) plus LLM_MAX_TOKENS before it is made; this budget holds two reservations of
the first message, not three."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from agent_chat.settings import SYSTEM_PROMPT
from agent_chat.tools import TOOL_SPECS
from agent_common.devstack import Stack
from agent_common.llm import LLMRequest, Message
from agent_common.llm.budget import estimate_prompt_tokens, seconds_to_next_day
from tests.chat.conftest import _start_chat
from tests.chat.helpers import SSE, send
from tests.conftest import LLM_ENV
from tests.support.llm_standins import OpenAIStandIn, Reply

MAX_TOKENS = 2000
MESSAGE = "What is the weather like?"
RESERVED = (
    estimate_prompt_tokens(LLMRequest(SYSTEM_PROMPT, [Message("user", MESSAGE)], list(TOOL_SPECS)))
    + MAX_TOKENS
)
BUDGET = RESERVED * 5 // 2


@pytest.fixture(scope="module")
async def budget_chat(stack: Stack, openai_standin: OpenAIStandIn) -> AsyncIterator[httpx.AsyncClient]:
    _, url = _start_chat(
        stack,
        "chat-budget",
        {
            **LLM_ENV,
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": f"{openai_standin.origin}/v1",
            "LLM_MAX_TOKENS": str(MAX_TOKENS),
            "LLM_DAILY_TOKEN_BUDGET": str(BUDGET),
        },
    )
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


async def test_concurrent_messages_cannot_spend_past_the_budget(
    budget_chat: httpx.AsyncClient, openai_standin: OpenAIStandIn, db: asyncpg.Pool
) -> None:
    """Six messages at once: two reservations fit, the other four are refused before any
    model call, with a clear 429 until the day rolls over; the model was asked twice, and
    another session is still served."""
    openai_standin.reset()
    openai_standin.queue(*[Reply("Sunny and warm.", chunk_delay_s=0.5) for _ in range(6)])
    user = str(uuid.uuid4())
    streamed = {"X-User-Id": user, **SSE}  # the stand-in's answers take 0.5 s a chunk: all in flight at once
    answers = await asyncio.gather(
        *(budget_chat.post("/chat", json={"message": MESSAGE}, headers=streamed) for _ in range(6))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429, 429, 429, 429], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 429)
    detail = refused.json()["detail"]
    assert detail.startswith(f"this session's daily LLM token budget ({BUDGET} tokens) is spent")
    assert detail.endswith("it renews at 00:00 UTC")
    assert abs(int(refused.headers["retry-after"]) - seconds_to_next_day()) <= 5
    assert len(openai_standin.usage_sent) == 2
    # what the two answers really cost is what was counted, far below the budget
    spent = sum(p + c for p, c in openai_standin.usage_sent)
    rows = await db.fetch("SELECT error FROM chat_messages WHERE user_id = $1 AND role = 'user'", user)
    assert sorted(r["error"] is None for r in rows) == [False] * 4 + [True] * 2  # every message kept
    assert spent < BUDGET
    # another session has its own budget
    openai_standin.queue(Reply("Fine."))
    assert (await send(budget_chat, str(uuid.uuid4()), MESSAGE)).status_code == 200
