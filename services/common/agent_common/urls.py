"""Finding the URL in a user's text: the planner and the offline assistant must agree."""

from __future__ import annotations

import re

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
