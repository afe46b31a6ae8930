"""Keeps `make run` up the way Kubernetes keeps a pod up: a process that exits is started
again after a backoff that grows with each crash, the others keep serving meanwhile, and
only a crash loop (too many crashes in a short window) stops everything, saying why.

PostgreSQL and Redis are restarted too, on their kept data (PostgreSQL recovers from its
WAL, Redis reloads its append-only file); the services reconnect by themselves, and a
worker's unacknowledged steps are claimed again by the workers alive.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent_common.devstack.pg import LocalPostgres, kill_group
from agent_common.devstack.processes import ServiceProcess
from agent_common.devstack.redis_server import LocalRedis


class Supervised(Protocol):
    name: str
    log_path: Path

    def alive(self) -> bool: ...
    def returncode(self) -> int | None: ...
    def restart(self) -> None: ...
    def pid(self) -> int | None: ...


class ServiceUnit:
    def __init__(self, proc: ServiceProcess) -> None:
        self.proc = proc
        self.name = proc.name
        self.log_path = proc.log_path

    def alive(self) -> bool:
        return self.proc.alive()

    def returncode(self) -> int | None:
        return self.proc.proc.returncode if self.proc.proc else None

    def restart(self) -> None:
        self.proc.start()

    def pid(self) -> int | None:
        return self.proc.proc.pid if self.proc.proc else None


class ServerUnit:
    """PostgreSQL or Redis as one unit: when the server's main process dies, its process group
    goes with it (as in a container), so the new server does not meet the old one's shared
    memory or port in use."""

    def __init__(self, name: str, server: LocalPostgres | LocalRedis, log_path: Path) -> None:
        self.name = name
        self.server = server
        self.log_path = log_path

    def alive(self) -> bool:
        proc = self.server.proc
        return proc is not None and proc.poll() is None

    def returncode(self) -> int | None:
        return self.server.proc.returncode if self.server.proc else None

    def restart(self) -> None:
        if self.server.proc:
            kill_group(self.server.proc)
        self.server.start()

    def pid(self) -> int | None:
        return self.server.proc.pid if self.server.proc else None


def postgres_unit(pg: LocalPostgres) -> ServerUnit:
    return ServerUnit("postgres", pg, pg.log_path)


def redis_unit(redis: LocalRedis) -> ServerUnit:
    return ServerUnit("redis", redis, redis.data_dir / "redis.log")


@dataclass
class Policy:
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    crash_limit: int = 5
    crash_window_s: float = 60.0

    def delay(self, recent_crashes: int) -> float:
        """The wait before the restart that follows the recent_crashes-th crash."""
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** (recent_crashes - 1))


class GiveUp(Exception):
    """A process crashed too often: (message saying which, how often, where its log is; log path)."""

    def __str__(self) -> str:
        return str(self.args[0])


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by {_signal_name(-code)}"
    if code > 128 and _signal_name(code - 128, default=""):
        return f"exited with code {code} ({_signal_name(code - 128)})"  # a wrapper reporting a signal
    return f"exited with code {code}"


def _signal_name(number: int, default: str | None = None) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}" if default is None else default


@dataclass
class _State:
    unit: Supervised
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Call `tick()` every fraction of a second; it raises GiveUp on a crash loop."""

    def __init__(
        self,
        units: list[Supervised],
        policy: Policy,
        *,
        say: Callable[[str], None],
        on_start: Callable[[Supervised], None] = lambda unit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states = [_State(u) for u in units]
        self.policy = policy
        self.say = say
        self.on_start = on_start
        self.clock = clock

    @property
    def restarts(self) -> dict[str, int]:
        return {s.unit.name: s.restarts for s in self.states if s.restarts}

    def tick(self) -> None:
        now = self.clock()
        for state in self.states:
            if state.restart_at is None and not state.unit.alive():
                self._crashed(state, now)
            elif state.restart_at is not None and now >= state.restart_at:
                self._restart(state)

    def _crashed(self, state: _State, now: float) -> None:
        unit, window = state.unit, self.policy.crash_window_s
        state.crashes.append(now)
        while state.crashes and state.crashes[0] < now - window:
            state.crashes.popleft()
        recent = len(state.crashes)
        how = describe_exit(unit.returncode())
        if recent >= self.policy.crash_limit:
            raise GiveUp(
                f"{unit.name} {how}: {recent} crashes within {window:g} s, giving up "
                f"(RUN_CRASH_LIMIT={self.policy.crash_limit}, RUN_CRASH_WINDOW_S={window:g}); "
                f"its log: {unit.log_path}",
                unit.log_path,
            )
        delay = self.policy.delay(recent)
        state.restart_at = now + delay
        self.say(
            f"{unit.name} {how}; restarting it in {delay:g} s "
            f"(crash {recent} of {self.policy.crash_limit} allowed within {window:g} s; "
            f"log: {unit.log_path})"
        )

    def _restart(self, state: _State) -> None:
        state.restart_at = None
        state.restarts += 1
        try:
            state.unit.restart()
        except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
            self.say(f"{state.unit.name} did not start again: {exc}")
            return  # not alive: the next tick counts it as a crash
        self.on_start(state.unit)
