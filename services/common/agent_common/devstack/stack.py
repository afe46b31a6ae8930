"""The whole system on one machine: PostgreSQL, Redis, migrations, then every service that
is installed, each a real process on loopback. `make run` and the test fixtures both use it."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_common import migrate
from agent_common.devstack.pg import LocalPostgres
from agent_common.devstack.processes import ServiceProcess, free_port, port_open
from agent_common.devstack.redis_server import LocalRedis


@dataclass
class Ports:
    postgres: int = 5432
    redis: int = 6379
    frontend: int = 3000
    gateway: int = 8080
    orchestrator: int = 8000
    chat: int = 3001
    workers: list[int] = field(default_factory=lambda: [9100, 9101])

    @classmethod
    def free(cls, workers: int = 2) -> Ports:
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            [free_port() for _ in range(workers)],
        )

    def resolve_taken(self) -> None:
        """Keep the usual ports when free; move any that something else holds."""
        for name in ("postgres", "redis", "frontend", "gateway", "orchestrator", "chat"):
            if port_open(getattr(self, name)):
                setattr(self, name, free_port())
        self.workers = [p if not port_open(p) else free_port() for p in self.workers]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def services_from_env(value: str | None) -> set[str] | None:
    """AGENT_SERVICES=orchestrator,worker limits what starts; empty means everything."""
    names = {n.strip() for n in (value or "").split(",") if n.strip()}
    return names or None


class Stack:
    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Ports,
        workers: int = 2,
        durable: bool = True,
        env: dict[str, str] | None = None,
        only: set[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.log_dir = self.data_dir / "logs"
        self.ports = ports
        while len(self.ports.workers) < workers:
            self.ports.workers.append(free_port())
        self.worker_count = workers
        self.extra_env = env or {}
        self.only = only  # start only these services (None: every installed one)
        self.pg = LocalPostgres(self.data_dir / "postgres", ports.postgres, durable=durable)
        self.redis = LocalRedis(self.data_dir / "redis", ports.redis)
        self.services: dict[str, ServiceProcess] = {}
        self.workers: list[ServiceProcess] = []

    # ---- infrastructure -----------------------------------------------------------------

    def start_infra(self) -> None:
        self.pg.start()
        self.redis.start()
        asyncio.run(migrate.apply(self.pg.url))

    def env(self) -> dict[str, str]:
        p = self.ports
        return {
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "ORCHESTRATOR_URL": f"http://127.0.0.1:{p.orchestrator}",
            "CHAT_SERVICE_URL": f"http://127.0.0.1:{p.chat}",
            "API_GATEWAY_URL": f"http://127.0.0.1:{p.gateway}",
            "HOST": "127.0.0.1",
            **self.extra_env,
        }

    # ---- services -------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, service)}"

    def _service(self, name: str, module: str, port: int, **env: str) -> ServiceProcess:
        proc = ServiceProcess(
            name,
            module,
            {**self.env(), "PORT": str(port), **env},
            ready_url=f"http://127.0.0.1:{port}/ready",
            log_dir=self.log_dir,
        )
        self.services[name] = proc
        return proc.start()

    def start_worker(self, **env: str) -> ServiceProcess:
        index = len(self.workers)
        port = self.ports.workers[index] if index < len(self.ports.workers) else free_port()
        proc = ServiceProcess(
            f"worker-{index + 1}",
            "agent_worker",
            {**self.env(), "METRICS_PORT": str(port), **env},
            ready_url=f"http://127.0.0.1:{port}/ready",
            log_dir=self.log_dir,
        )
        self.workers.append(proc)
        return proc.start()

    def start_services(self) -> list[ServiceProcess]:
        """Start every installed service in parallel, then wait for each to be ready."""
        started: list[ServiceProcess] = []
        for name, module in (
            ("orchestrator", "agent_orchestrator"),
            ("chat", "agent_chat"),
            ("gateway", "agent_gateway"),
            ("frontend", "agent_frontend"),
        ):
            if installed(module) and self._wanted(name):
                started.append(self._service(name, module, getattr(self.ports, name)))
        if installed("agent_worker") and self._wanted("worker"):
            started += [self.start_worker() for _ in range(self.worker_count)]
        for proc in started:
            proc.wait_ready()
        return started

    def _wanted(self, name: str) -> bool:
        return self.only is None or name in self.only

    def all_processes(self) -> list[ServiceProcess]:
        return [*self.services.values(), *self.workers]

    def stop(self) -> None:
        for proc in self.all_processes():
            if proc.proc and proc.proc.poll() is None:
                proc.proc.terminate()
        deadline = time.monotonic() + 25
        for proc in self.all_processes():
            proc.stop(timeout=max(0.1, deadline - time.monotonic()))
        self.redis.stop()
        self.pg.stop()
