"""Finding the URLs in a user's text: the planners and the offline assistant must agree."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# http(s) URLs (an IPv6 host in brackets included) up to whitespace, a bracket or a quote;
# trailing punctuation is the sentence's, not the URL's ("Summarize https://x.org/a.")
_URL = re.compile(r"https?://(?:\[[0-9a-f:.%]+\])?[^\s<>\"'(){}\[\]]*", re.IGNORECASE)
_TRAILING = ".,;:!?"


def find_url(text: str) -> str | None:
    """The first http(s) URL in the text, or None."""
    match = _URL.search(text)
    if not match:
        return None
    url = match.group(0).rstrip(_TRAILING)
    return url if len(url) > len("https://") else None


def find_urls(text: str) -> list[str]:
    """Every http(s) URL in the text, in order, each once."""
    found: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if len(url) > len("https://") and url not in found:
            found.append(url)
    return found


def canonical(url: str) -> str:
    """The form two spellings of one address share: scheme and host in lower case, no
    default port, no fragment, "/" for an empty path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.netloc.lower().rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))
