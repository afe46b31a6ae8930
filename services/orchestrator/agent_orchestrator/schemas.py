"""Request and response bodies of the orchestrator's API (DESIGN.md, "Public API")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StrictStr

TaskStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]
StepStatus = Literal["queued", "processing", "completed", "failed", "cancelled", "skipped"]


class TaskIn(BaseModel):
    # strict: a number is not a title; extra fields are refused so typos are visible
    model_config = ConfigDict(extra="forbid")
    title: StrictStr
    description: StrictStr


class TaskCreated(BaseModel):
    task_id: UUID
    status: TaskStatus


class StepOut(BaseModel):
    type: str
    status: StepStatus
    error: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


class TaskOut(BaseModel):
    task_id: UUID
    status: TaskStatus
    title: str
    description: str
    result: str | None
    error: str | None
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime
