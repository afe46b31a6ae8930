"""Exit codes scripts can rely on, and the one exception every command raises for them."""

from __future__ import annotations

from enum import IntEnum

import httpx

from agent_cli.session_store import SessionStore


class Exit(IntEnum):
    OK = 0
    TASK_FAILED = 1  # a task failed or was cancelled (status, task --wait, load)
    USAGE = 2  # bad arguments, or the API refused the request as invalid (unknown task id, 4xx)
    UNREACHABLE = 3  # the gateway (or the port-forward to it) could not be reached
    SESSION = 4  # no session could be created or renewed
    RATE_LIMITED = 5  # 429: the answer says how long to wait
    SERVER_ERROR = 6  # 5xx from the gateway or a service behind it, or a service not ready (health)
    TIMEOUT = 7  # --wait/--timeout ran out while the work was still going on


EXIT_HELP = """\b
Exit codes:
  0  ok
  1  a task failed or was cancelled (status, task --wait, load)
  2  usage error, or the API refused the request (unknown task, invalid input)
  3  gateway unreachable (is it running? --url, AGENTCTL_URL, --kube-context)
  4  no session could be created or renewed
  5  rate limited (the message says how long to wait)
  6  server error (5xx), or a service not ready (health)
  7  timed out while the task or load was still running
"""

KINDS = {
    Exit.TASK_FAILED: "task_failed",
    Exit.USAGE: "usage",
    Exit.UNREACHABLE: "unreachable",
    Exit.SESSION: "session",
    Exit.RATE_LIMITED: "rate_limited",
    Exit.SERVER_ERROR: "server_error",
    Exit.TIMEOUT: "timeout",
}


class CliError(Exception):
    """A failure with its exit code, what happened, and what to do about it."""

    def __init__(
        self,
        code: Exit,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status
        self.retry_after_s = retry_after_s

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "error": KINDS.get(self.code, "error"),
            "exit_code": int(self.code),
            "message": self.message,
        }
        if self.hint:
            body["hint"] = self.hint
        if self.status is not None:
            body["status"] = self.status
        if self.retry_after_s is not None:
            body["retry_after_s"] = self.retry_after_s
        return body


def detail_of(response: httpx.Response) -> str:
    """The {"detail"} of an error answer as one line (422's list of problems joined)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(_problem(p) for p in detail)
    return str(detail)


def _problem(problem: object) -> str:
    if not isinstance(problem, dict):
        return str(problem)
    where = ".".join(str(part) for part in problem.get("loc", []) if part != "body")
    return f"{where}: {problem.get('msg')}" if where else str(problem.get("msg"))


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def error_for(response: httpx.Response, doing: str) -> CliError:
    """The CliError for an error answer: its exit code and what to do."""
    status, detail = response.status_code, detail_of(response)
    if status == 429:
        wait = retry_after(response)
        return CliError(
            Exit.RATE_LIMITED,
            f"rate limited while {doing}: the gateway asks to wait {wait:g} s",
            f"try again in {wait:g} s; the limit is per session (RATE_LIMIT_CAPACITY and "
            "RATE_LIMIT_REFILL_PER_S on the gateway)",
            status=status,
            retry_after_s=wait,
        )
    if status == 401:
        return CliError(
            Exit.SESSION,
            f"the gateway refused the session while {doing}: {detail}",
            f"run the command again; if it persists, delete {SessionStore().path}",
            status=status,
        )
    if status >= 500:
        hint = "a service behind the gateway is down or failing: `agentctl health` shows which"
        if status in (502, 503, 504) and "retry-after" in response.headers:
            hint += f"; the gateway suggests retrying in {retry_after(response):g} s"
        return CliError(
            Exit.SERVER_ERROR, f"server error {status} while {doing}: {detail}", hint, status=status
        )
    advice = {
        404: "check the id: `agentctl tasks` lists this session's tasks (not another session's)",
        409: "nothing to do: the task has already finished",
        413: "the request is larger than the gateway accepts (MAX_BODY_BYTES)",
    }.get(status)
    return CliError(
        Exit.USAGE,
        f"the gateway refused the request ({status}) while {doing}: {detail}",
        advice,
        status=status,
    )
