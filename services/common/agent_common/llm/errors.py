"""Upstream failures, named for what the caller should tell the user.

Each provider turns its SDK's exceptions into one `LLMError`, whose `status` is what an
HTTP service answers: 504 when the provider took too long, 503 when it is unreachable or
rate limiting (try again later), 502 when it answered wrongly (bad key, 5xx, broken
stream, refused request); 429 when the user's daily token budget is spent (the call was
never made)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from agent_common.redact import Redactor, configured_secrets

Kind = Literal[
    "timeout",
    "rate_limited",
    "unavailable",
    "auth",
    "upstream_error",
    "bad_request",
    "broken_stream",
    "budget",
]

STATUS: dict[str, int] = {
    "timeout": 504,
    "rate_limited": 503,
    "unavailable": 503,
    "auth": 502,
    "upstream_error": 502,
    "bad_request": 502,
    "broken_stream": 502,
    "budget": 429,
}

# upstream text quoted in a detail is cut to this many characters
MAX_QUOTED_CHARS = 200


@cache
def _redactor() -> Redactor:
    return Redactor(configured_secrets())


class LLMError(Exception):
    def __init__(
        self, kind: Kind, detail: str, *, upstream_status: int | None = None, retry_after_s: int | None = None
    ) -> None:
        # the detail reaches the user, the database and the logs: a provider or proxy that
        # quotes the key it got (or a base URL with a password) must not pass it on
        detail = _redactor()(detail)
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return STATUS[self.kind]


def describe_status(
    provider: str, status: int, key_var: str, message: str = "", retry_after_s: int | None = None
) -> LLMError:
    """The LLMError for an HTTP error status from the provider."""
    quoted = f": {message[:MAX_QUOTED_CHARS]}" if message else ""
    if status in (401, 403):
        return LLMError(
            "auth",
            f"the {provider} API refused the credentials (HTTP {status}); check {key_var}",
            upstream_status=status,
        )
    if status == 429:
        wait = f"; retry in {retry_after_s}s" if retry_after_s else "; try again shortly"
        return LLMError(
            "rate_limited",
            f"the {provider} API is rate limiting requests (HTTP 429){wait}",
            upstream_status=status,
            retry_after_s=retry_after_s,
        )
    if status in (503, 529):  # 529: Anthropic's "overloaded"
        return LLMError(
            "unavailable",
            f"the {provider} API is overloaded or unavailable (HTTP {status}); try again shortly",
            upstream_status=status,
            retry_after_s=retry_after_s,
        )
    if status >= 500:
        return LLMError(
            "upstream_error", f"the {provider} API failed (HTTP {status})", upstream_status=status
        )
    return LLMError(
        "bad_request",
        f"the {provider} API refused the request (HTTP {status}){quoted}",
        upstream_status=status,
    )


def timeout(provider: str, seconds: float) -> LLMError:
    return LLMError("timeout", f"the {provider} API did not answer within {seconds:g}s")


def unreachable(provider: str, where: str) -> LLMError:
    return LLMError("unavailable", f"could not connect to the {provider} API at {where}")


def broken(provider: str, cause: str) -> LLMError:
    return LLMError(
        "broken_stream", f"the {provider} API's answer broke off before it was complete ({cause})"
    )


def retry_after(headers: object) -> int | None:
    """Seconds from a Retry-After header given in seconds (the form both APIs use)."""
    value = getattr(headers, "get", lambda _k: None)("retry-after")
    try:
        return max(0, round(float(value))) if value is not None else None
    except ValueError:
        return None
