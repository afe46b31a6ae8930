"""The orchestrator's limits (each an environment variable)."""

from __future__ import annotations

from pydantic import Field

from agent_common.settings import Settings


class OrchestratorSettings(Settings):
    service_name: str = Field("orchestrator", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"
    port: int = 8000
    task_title_max_chars: int = Field(200, ge=1)
    task_description_max_chars: int = Field(10_000, ge=1)
    tasks_page_default: int = Field(50, ge=1)
    tasks_page_max: int = Field(200, ge=1)
