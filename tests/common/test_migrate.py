"""`agent-migrate`, the one command Kubernetes runs before a rollout, is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from agent_common import migrate
from agent_common.devstack import Stack


def _run_migrate(url: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "agent-migrate"
    return subprocess.run(
        [str(script)], env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=60
    )


async def test_migrate_command_is_idempotent(infra: Stack, db: asyncpg.Pool) -> None:
    for _ in range(2):
        result = _run_migrate(infra.pg.url)
        assert result.returncode == 0, result.stderr
        assert "migrations up to date" in result.stderr
    versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [v for v, _, _ in migrate.available()]
    rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    tables = {r["tablename"] for r in rows}
    assert {"sessions", "chat_messages", "tasks", "task_steps", "schema_migrations"} <= tables
