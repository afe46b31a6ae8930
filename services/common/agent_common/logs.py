"""One JSON object per log line: time, level, service, logger, message, the trace and span
ids (inside a span), the request id, a short hash of the user id, and context. Every text
goes through the redactor first: no key, password or session token reaches a log line."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import sys
import threading
import time
from functools import lru_cache
from types import TracebackType

import orjson

from agent_common import tracing
from agent_common.redact import Redactor, configured_secrets
from agent_common.settings import Settings

# set per request by the HTTP middleware so every line of that request carries it
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# the user the request (or the step) acts for; logged only as user_hash(...)
user_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}
_PLAIN = (int, float, bool, type(None))


@lru_cache(maxsize=4096)
def user_hash(user_id: str) -> str:
    """12 hex digits of SHA-256: enough to follow one user through the logs, not to name them."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.service = service
        self.redact = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        span = tracing.ids()
        if span:
            entry["trace_id"], entry["span_id"] = span
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        user = user_var.get()
        if user:
            entry["user"] = user_hash(user)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, _PLAIN) else self.redact(str(value))
        if record.exc_info:
            entry["error"] = self.redact(self.formatException(record.exc_info))
        elif record.stack_info:
            entry["stack"] = self.redact(record.stack_info)
        return orjson.dumps(entry).decode()


def setup_logging(settings: Settings) -> None:
    secrets = configured_secrets(
        urls=(settings.database_url, settings.redis_url, settings.llm_base_url),
        keys=(settings.openai_api_key.get_secret_value(), settings.anthropic_api_key.get_secret_value()),
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings.service_name, Redactor(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's own handlers would print plain text; route them through ours
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    _route_stray_output()


def _route_stray_output() -> None:
    """Uncaught exceptions (main thread and others) and warnings become JSON log lines too,
    redacted like the rest, instead of raw tracebacks on stderr."""
    log = logging.getLogger("agent.uncaught")

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.critical("uncaught %s", kind.__name__, exc_info=(kind, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        log.error(
            "uncaught %s in thread %s",
            args.exc_type.__name__,
            getattr(args.thread, "name", "?"),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    logging.captureWarnings(True)
