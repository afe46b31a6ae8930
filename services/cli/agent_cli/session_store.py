"""Session tokens kept per target in the user's config directory (sessions.json, mode 0600).

A target is what the token belongs to: a gateway URL, or `kube:<context>/<namespace>` (the
port-forward's local port changes every run, the gateway behind it does not).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

CONFIG_DIR_ENV = "AGENTCTL_CONFIG_DIR"
FILE_NAME = "sessions.json"


def config_dir() -> Path:
    """AGENTCTL_CONFIG_DIR, else the platform's user config dir (~/.config/agentctl on Linux)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir("agentctl"))


@dataclass
class StoredSession:
    token: str
    user_id: str
    expires_at: str  # ISO 8601, as the gateway sent it

    def expired(self, now: datetime | None = None) -> bool:
        try:
            expiry = datetime.fromisoformat(self.expires_at.replace("Z", "+00:00"))
        except ValueError:
            return False  # unknown format: let the gateway decide (401 renews)
        return expiry <= (now or datetime.now(UTC))


class SessionStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / FILE_NAME

    def get(self, target: str) -> StoredSession | None:
        entry = self._read().get(target)
        if not isinstance(entry, dict):
            return None
        try:
            return StoredSession(str(entry["token"]), str(entry["user_id"]), str(entry["expires_at"]))
        except KeyError:
            return None

    def put(self, target: str, session: StoredSession) -> None:
        data = self._read()
        data[target] = asdict(session)
        self._write(data)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):  # missing or unreadable: no session yet (saving one says why)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, object]) -> None:
        """Atomic replace of a file created 0600 (the tokens are credentials); a concurrent
        agentctl may lose its entry in a race, which only costs it a new session."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sessions.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp creates the file 0600
                json.dump(data, out, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
