"""The orchestrator's limits (each an environment variable); the planning limits are in
agent_common.planning.settings, shared with the worker."""

from __future__ import annotations

from pydantic import Field

from agent_common.planning.settings import PlanSettings


class OrchestratorSettings(PlanSettings):
    service_name: str = Field("orchestrator", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"
    port: int = 8000
    task_title_max_chars: int = Field(200, ge=1)
    task_description_max_chars: int = Field(10_000, ge=1)
    tasks_page_default: int = Field(50, ge=1)
    tasks_page_max: int = Field(200, ge=1)
