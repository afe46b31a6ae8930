"""Settings shared by every service, read from the environment (services/common/README.md "Settings").

Each service subclasses `Settings` for its own limits, so a reader finds a service's
knobs in that service's `settings.py` and the shared ones here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # populate_by_name: Settings(service_name=...) in code, SERVICE_NAME in the environment
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    service_name: str = Field("agent", validation_alias="SERVICE_NAME")
    log_level: str = "INFO"

    database_url: str = "postgresql://agent:agent@localhost:5432/agent"
    # connections opened at start and kept. 0 by default: a service then starts while its
    # database is still starting or briefly away (make run, a rollout, the tests) and reports
    # not-ready until it answers; with more, the pool's opening fails and the service exits
    db_pool_min: int = Field(0, ge=0)
    db_pool_max: int = Field(10, ge=1)
    db_connect_timeout_s: float = Field(5.0, gt=0)
    db_command_timeout_s: float = Field(10.0, gt=0)

    redis_url: str = "redis://localhost:6379/0"
    redis_socket_timeout_s: float = Field(5.0, gt=0)
    # mirror keys task:{id}:status live this long after their last update
    task_status_ttl_s: int = Field(86_400, gt=0)

    chat_service_url: str = "http://localhost:3001"
    orchestrator_url: str = "http://localhost:8000"
    api_gateway_url: str = "http://localhost:8080"

    llm_provider: Literal["offline", "openai", "anthropic"] = "offline"
    llm_model: str = ""
    llm_base_url: str = ""
    openai_api_key: SecretStr = SecretStr("")
    anthropic_api_key: SecretStr = SecretStr("")

    # steps are mostly waiting (fetches, model calls), so one process runs many at once
    worker_concurrency: int = Field(32, ge=1)
    # comma-separated host:port pairs exempt from the private-address block (local test servers)
    fetch_allowed_hosts: str = ""

    # largest request body any service accepts, in bytes
    max_body_bytes: int = Field(64 * 1024, gt=0)

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(f"DB_POOL_MIN ({self.db_pool_min}) is above DB_POOL_MAX ({self.db_pool_max})")
        return self

    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.fetch_allowed_hosts.split(",") if h.strip())
