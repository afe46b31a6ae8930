"""What the model sees: the system prompt, the last N messages, and the tools."""

from __future__ import annotations

import asyncpg

from agent_chat import store
from agent_chat.settings import ChatSettings
from agent_chat.tools import TOOL_SPECS
from agent_common.llm import LLMRequest, Message


async def build(pool: asyncpg.Pool, settings: ChatSettings, user_id: str, message_id: int) -> LLMRequest:
    """The request for answering message `message_id` (already stored, so it is the last of the N)."""
    rows = await store.recent(pool, user_id, message_id, settings.chat_context_messages)
    messages = [Message(r["role"], r["content"]) for r in rows]
    return LLMRequest(
        system=settings.chat_system_prompt,
        messages=messages,
        tools=list(TOOL_SPECS),
        max_tokens=settings.llm_max_tokens,
    )
