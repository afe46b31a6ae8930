"""Request and response bodies of the chat API (services/chat/README.md "API")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr


class ChatIn(BaseModel):
    # strict: a number is not a message; extra fields are refused so typos are visible
    model_config = ConfigDict(extra="forbid")
    message: StrictStr


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class ChatOut(BaseModel):
    response: str
    chat_id: int  # the id of the stored answer
    model: str
    usage: UsageOut
    cost_usd: float | None
    tasks_started: list[str]


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime
    # an answer's accounting (None on the user's messages)
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
