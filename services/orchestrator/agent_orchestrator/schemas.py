"""Request and response bodies of the orchestrator's API (services/orchestrator/README.md "API")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
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
    id: str  # stable within the task
    type: str  # the tool
    status: StepStatus
    error: str | None
    attempts: int
    depends_on: list[str]  # ids of the steps whose output it reads; empty for a first step
    optional: bool  # its failure leaves the task running; the steps after it are told
    params: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    output: dict[str, Any] | None  # when completed: its output without the bulky fields


class PlanOut(BaseModel):
    """What planning by a model cost (null when the rules planned without asking one)."""

    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: Decimal | None
    latency_ms: int | None
    replanned_steps: int | None  # steps the model added after the branches completed


class ToolOut(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema
    inputs: dict[str, Any]  # {"takes": [kinds], "min", "max"}
    output: dict[str, Any]  # {"kind", "fields"}


class TaskOut(BaseModel):
    task_id: UUID
    status: TaskStatus
    title: str
    description: str
    result: str | None
    error: str | None
    plan_source: Literal["rules", "llm"]
    plan_note: str | None  # why a model's plan was not used, or what the rules left out
    plan: PlanOut | None
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime
