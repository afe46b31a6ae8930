"""The chat service's SQL: messages in chat_messages (PostgreSQL is the record of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class Accounting:
    """What an assistant message cost: model, tokens, time and, where priced, money."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    cost_usd: Decimal | None


async def add_user_message(pool: asyncpg.Pool, user_id: str, content: str) -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO chat_messages (user_id, role, content) VALUES ($1, 'user', $2) RETURNING id",
            user_id,
            content,
        )
    )


async def add_assistant_message(pool: asyncpg.Pool, user_id: str, content: str, acc: Accounting) -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO chat_messages (user_id, role, content, model, prompt_tokens, completion_tokens,"
            " latency_ms, cost_usd) VALUES ($1, 'assistant', $2, $3, $4, $5, $6, $7) RETURNING id",
            user_id,
            content,
            acc.model,
            acc.prompt_tokens,
            acc.completion_tokens,
            acc.latency_ms,
            acc.cost_usd,
        )
    )


async def record_failure(
    pool: asyncpg.Pool, message_id: int, error: str, model: str, latency_ms: int
) -> None:
    """The answer to this user message failed: say why on the message itself, so history
    keeps what the user said and the accounting shows the failed call."""
    await pool.execute(
        "UPDATE chat_messages SET error = $2, model = $3, latency_ms = $4 WHERE id = $1",
        message_id,
        error,
        model,
        latency_ms,
    )


async def recent(pool: asyncpg.Pool, user_id: str, up_to_id: int, n: int) -> list[asyncpg.Record]:
    """The last n user and assistant messages up to and including `up_to_id`, oldest first."""
    return list(
        reversed(
            await pool.fetch(
                "SELECT role, content FROM chat_messages WHERE user_id = $1 AND id <= $2"
                " AND role IN ('user', 'assistant') ORDER BY id DESC LIMIT $3",
                user_id,
                up_to_id,
                n,
            )
        )
    )


async def history(pool: asyncpg.Pool, user_id: str, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` messages, oldest first; an answer with its model and tokens."""
    rows = await pool.fetch(
        "SELECT role, content, created_at, model, prompt_tokens, completion_tokens FROM ("
        "  SELECT id, role, content, created_at,"
        "         CASE WHEN role = 'assistant' THEN model END AS model,"
        "         CASE WHEN role = 'assistant' THEN prompt_tokens END AS prompt_tokens,"
        "         CASE WHEN role = 'assistant' THEN completion_tokens END AS completion_tokens"
        "    FROM chat_messages"
        "   WHERE user_id = $1 AND role IN ('user', 'assistant') ORDER BY id DESC LIMIT $2"
        ") latest ORDER BY id",
        user_id,
        limit,
    )
    return [dict(r) for r in rows]
