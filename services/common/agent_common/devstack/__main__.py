"""`make run`: PostgreSQL, Redis and every service on this machine, data kept in .data/.

Prints the URL when everything is ready; a process that dies is started again (see
supervisor.py); Ctrl-C stops it all cleanly."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

from agent_common.devstack.settings import RunSettings
from agent_common.devstack.stack import Ports, Stack, services_from_env
from agent_common.devstack.supervisor import (
    GiveUp,
    Policy,
    ServiceUnit,
    Supervised,
    Supervisor,
    postgres_unit,
    redis_unit,
)


def main() -> int:
    started = time.monotonic()
    settings = RunSettings()
    data = settings.agent_data_dir
    ports = Ports()
    ports.resolve_taken()
    stack = Stack(
        data, ports=ports, workers=settings.workers, only=services_from_env(settings.agent_services)
    )
    pids = PidFiles(stack.data_dir / "run")
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print(
            f"starting PostgreSQL on :{ports.postgres} and Redis on :{ports.redis} (data in {data}/)",
            flush=True,
        )
        stack.start_infra()
        procs = stack.start_services()
        supervisor = _supervisor(stack, settings, pids)
        _print_ready(stack, [p.name for p in procs], time.monotonic() - started)
        while not stopping:
            supervisor.tick()
            time.sleep(0.2)
        print("\nstopping...", flush=True)
        return 0
    except GiveUp as exc:
        print(f"\n{exc}; its last lines:\n{_tail(exc.args[1])}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # start-up failed: say why, then clean up
        print(f"\nstart-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        pids.clear()
        print("stopped.", flush=True)


def _supervisor(stack: Stack, settings: RunSettings, pids: PidFiles) -> Supervisor:
    units: list[Supervised] = [postgres_unit(stack.pg), redis_unit(stack.redis)]
    units += [ServiceUnit(p) for p in stack.all_processes()]
    for unit in units:
        pids.write(unit)
    policy = Policy(
        settings.run_restart_backoff_s,
        settings.run_restart_backoff_max_s,
        settings.run_crash_limit,
        settings.run_crash_window_s,
    )
    return Supervisor(units, policy, say=lambda line: print(line, flush=True), on_start=pids.write)


class PidFiles:
    """<data>/run/<name>.pid for every process make run keeps up (`kill -9 $(cat ...)`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, unit: Supervised) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{unit.name}.pid").write_text(f"{unit.pid()}\n")

    def clear(self) -> None:
        for path in self.folder.glob("*.pid"):
            with contextlib.suppress(OSError):
                path.unlink()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _print_ready(stack: Stack, names: list[str], seconds: float) -> None:
    p = stack.ports
    lines = [
        f"  {name:<13} {_public(stack.url(name))}"
        for name in ("frontend", "gateway", "orchestrator", "chat")
        if name in names
    ]
    workers = [n for n in names if n.startswith("worker")]
    if workers:
        metrics = ", :".join(map(str, p.workers[: len(workers)]))
        lines.append(f"  {'workers':<13} {len(workers)} (metrics on :{metrics})")
    main_url = _public(stack.url("frontend") if "frontend" in names else stack.url("orchestrator"))
    print(
        f"\nagent-system is ready in {seconds:.1f}s: {main_url}\n"
        + "\n".join(lines)
        + f"\n  logs in {stack.log_dir}/, process ids in {stack.data_dir / 'run'}/"
        + "\nA process that exits is started again. Press Ctrl-C to stop.",
        flush=True,
    )


def _public(url: str) -> str:
    """The address to open in a browser (services listen on 127.0.0.1)."""
    return url.replace("//127.0.0.1:", "//localhost:")


if __name__ == "__main__":
    sys.exit(main())
