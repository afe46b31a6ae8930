"""`make run`: PostgreSQL, Redis and every service on this machine, data kept in .data/.

Prints the URL when everything is ready; Ctrl-C stops it all cleanly."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from agent_common.devstack.stack import Ports, Stack, services_from_env


def main() -> int:
    started = time.monotonic()
    data = Path(os.environ.get("AGENT_DATA_DIR", ".data"))
    ports = Ports()
    ports.resolve_taken()
    stack = Stack(data, ports=ports, workers=int(os.environ.get("WORKERS", "2")),
                  only=services_from_env(os.environ.get("AGENT_SERVICES")))
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print(f"starting PostgreSQL on :{ports.postgres} and Redis on :{ports.redis} (data in {data}/)",
              flush=True)
        stack.start_infra()
        procs = stack.start_services()
        _print_ready(stack, [p.name for p in procs], time.monotonic() - started)
        while not stopping:
            dead = [p for p in stack.all_processes() if not p.alive()]
            if dead:
                for p in dead:
                    print(f"\n{p.name} exited unexpectedly; its log ({p.log_path}):\n{p.tail()}",
                          file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("\nstopping...", flush=True)
        return 0
    except Exception as exc:  # start-up failed: say why, then clean up
        print(f"\nstart-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        print("stopped.", flush=True)


def _print_ready(stack: Stack, names: list[str], seconds: float) -> None:
    p = stack.ports
    lines = [f"  {name:<13} {_public(stack.url(name))}"
             for name in ("frontend", "gateway", "orchestrator", "chat") if name in names]
    workers = [n for n in names if n.startswith("worker")]
    if workers:
        metrics = ", :".join(map(str, p.workers[: len(workers)]))
        lines.append(f"  {'workers':<13} {len(workers)} (metrics on :{metrics})")
    main_url = _public(stack.url("frontend") if "frontend" in names else stack.url("orchestrator"))
    print(f"\nagent-system is ready in {seconds:.1f}s: {main_url}\n" + "\n".join(lines)
          + f"\n  logs in {stack.log_dir}/\nPress Ctrl-C to stop.", flush=True)


def _public(url: str) -> str:
    """The address to open in a browser (services listen on 127.0.0.1)."""
    return url.replace("//127.0.0.1:", "//localhost:")


if __name__ == "__main__":
    sys.exit(main())
