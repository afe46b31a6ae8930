"""Local infrastructure for `make run` and the test fixtures: a real PostgreSQL, a real
Redis and the service processes, started on loopback without Docker."""

from agent_common.devstack.pg import LocalPostgres
from agent_common.devstack.processes import ServiceProcess, free_port, wait_http_ready
from agent_common.devstack.redis_server import LocalRedis
from agent_common.devstack.stack import Ports, Stack

__all__ = ["LocalPostgres", "LocalRedis", "Ports", "ServiceProcess", "Stack", "free_port", "wait_http_ready"]
