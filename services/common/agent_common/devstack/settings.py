"""`make run`'s settings, from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    agent_data_dir: Path = Path(".data")  # PostgreSQL's and Redis's files, the logs, the pid files
    workers: int = Field(2, ge=0)
    agent_services: str = ""  # e.g. "orchestrator,worker": start only these (empty: all installed)

    # A process that exits is started again, as Kubernetes restarts a container: after
    # run_restart_backoff_s, doubled for each earlier crash of that process within the
    # window, at most run_restart_backoff_max_s. The run_crash_limit-th crash within
    # run_crash_window_s stops everything: something is wrong that restarting won't fix.
    run_restart_backoff_s: float = Field(1.0, gt=0)
    run_restart_backoff_max_s: float = Field(30.0, gt=0)
    run_crash_limit: int = Field(5, ge=1)
    run_crash_window_s: float = Field(60.0, gt=0)
