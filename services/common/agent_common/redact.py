"""Secrets out of log lines: the configured keys and passwords by value, and anything that
looks like a credential by shape (sk-... keys, Bearer tokens, URL passwords, session tokens,
key=value pairs named like secrets), wherever in the text they stand."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "[redacted]"
# shorter configured values are not replaced by value (a dev password such as "agent" would
# blank out every logger name); their shapes below still catch them in URLs and headers
MIN_LITERAL_CHARS = 8
SECRET_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")
URL_ENV_VARS = ("DATABASE_URL", "REDIS_URL", "LLM_BASE_URL")

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host (the user stays)
    (re.compile(r"(://[^/\s:@]*):[^/\s@]+@"), rf"\1:{MASK}@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-) keys
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), f"sk-{MASK}"),
    (re.compile(r"(?i)\b(session=)[^;\s\"',]+"), rf"\1{MASK}"),
    # api_key=..., "password": "...", x-api-key: ..., session_token=...
    (
        re.compile(
            r"(?i)\b([\w-]*(?:api[_-]?key|password|passwd|secret|token))([\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;&}]+"
        ),
        rf"\1\2{MASK}",
    ),
    # a session token: 43 characters of URL-safe base64 (secrets.token_urlsafe(32))
    (re.compile(r"(?<![\w-])[A-Za-z0-9_-]{43}(?![\w-])"), MASK),
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_LITERAL_CHARS}, key=len, reverse=True)
        self._literal = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text


def configured_secrets(urls: Iterable[str] = (), keys: Iterable[str] = ()) -> list[str]:
    """The secret values this process knows: API keys and passwords, and the passwords
    inside the service URLs, from the environment and from the caller's settings."""
    found = [os.environ.get(name, "") for name in SECRET_ENV_VARS] + list(keys)
    for url in (*(os.environ.get(name, "") for name in URL_ENV_VARS), *urls):
        found.append(url_password(url))
    return [s for s in found if s]


def url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
