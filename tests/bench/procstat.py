"""CPU time of processes, from /proc: what a benchmark charges to each part of the system.

CPU seconds move much less with other load on a shared 2-core machine than rates do, so
the benchmarks print them beside the rates."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # the command name may hold spaces: fields start after its closing parenthesis
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:  # gone: it no longer counts
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a server and its children, the exited ones included (a PostgreSQL
    postmaster reaps its backends, whose time then shows in its own child counters)."""
    fields = _stat(pid)
    own = sum(int(f) for f in fields[11:15]) / _TICKS  # utime stime cutime cstime
    return own + cpu_seconds(children(pid))
