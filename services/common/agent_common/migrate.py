"""Apply the numbered SQL migrations in `migrations/` once each, in order.

`agent-migrate` is the one command; Kubernetes runs it as a Job before the services roll
out. It is idempotent and safe to run from several places at once (an advisory lock
serialises them).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from importlib import resources

import asyncpg

from agent_common import db
from agent_common.settings import Settings

log = logging.getLogger("agent.migrate")

_LOCK_KEY = 0x6167656E74  # "agent": any constant shared by all migrators
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, filename, sql) for every migration file, ordered by version."""
    found = []
    for entry in resources.files("agent_common.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def apply(database_url: str, *, connect_timeout: float = 10.0) -> list[str]:
    """Apply pending migrations; return the names applied."""
    conn = await asyncpg.connect(database_url, timeout=connect_timeout)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in available():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(name)
            log.info("applied migration %s", name)
    finally:
        await conn.close()
    return applied


async def wait_and_apply(settings: Settings, *, deadline_s: float = 60.0) -> list[str]:
    """Retry the connection until the database accepts it (a Job may start first)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            return await apply(settings.database_url)
        except db.UNAVAILABLE as exc:
            if loop.time() > end:
                raise
            log.warning("database not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1.0)


def main() -> None:
    from agent_common.logs import setup_logging

    settings = Settings(service_name="migrate")
    setup_logging(settings)
    names = asyncio.run(wait_and_apply(settings))
    log.info("migrations up to date (%d applied now)", len(names))
    sys.exit(0)


if __name__ == "__main__":
    main()
