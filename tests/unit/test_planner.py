"""The default planner: URL -> three steps, plain text -> one summarize step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_common.urls import find_url
from agent_orchestrator.planner import plan


@pytest.mark.parametrize(("text", "url"), [
    ("Summarize this article: https://example.org/a/b?c=1#d", "https://example.org/a/b?c=1#d"),
    ("Summarize https://example.org/post.", "https://example.org/post"),
    ("(see http://example.org/x), thanks", "http://example.org/x"),
    ("an IPv6 host http://[2001:db8::1]:8080/p works", "http://[2001:db8::1]:8080/p"),
    ("HTTPS://EXAMPLE.ORG/UPPER", "HTTPS://EXAMPLE.ORG/UPPER"),
    ("first http://a.example/1 then http://b.example/2", "http://a.example/1"),
    ("ftp://example.org/file is not fetched", None),
    ("just text, no link", None),
    ("http:// alone", None),
])
def test_find_url(text: str, url: str | None) -> None:
    assert find_url(text) == url


def test_url_plans_fetch_extract_summarize() -> None:
    steps = plan("Summarize https://example.org/a")
    assert [s.type for s in steps] == ["fetch_url", "extract_text", "summarize"]
    assert steps[0].params == {"url": "https://example.org/a"}


def test_text_plans_one_summarize_step() -> None:
    text = "A long text with no link. It should be summarized directly."
    steps = plan(text)
    assert [(s.type, s.params) for s in steps] == [("summarize", {"text": text})]


@given(st.text(max_size=300))
def test_any_text_gets_a_valid_plan(text: str) -> None:
    steps = plan(text)
    assert [s.type for s in steps] in (["fetch_url", "extract_text", "summarize"], ["summarize"])
    if steps[0].type == "fetch_url":
        url = steps[0].params["url"]
        assert url.lower().startswith(("http://", "https://")) and url in text
        assert not any(c.isspace() for c in url)


URL_CHARS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-._~/%?=&+#@!$*,;:"), max_size=40)


HOSTS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)


AROUND = st.text(st.characters(exclude_characters=":/"), max_size=60)  # holds no URL of its own


@given(st.sampled_from(["http", "https", "HTTP", "Https"]), HOSTS, URL_CHARS, AROUND,
       st.sampled_from(["", ".", ",", "!", ")"]))
def test_a_url_in_any_text_is_planned_exactly(scheme: str, host: str, path: str, before: str,
                                              after: str) -> None:
    """Text around a URL (without one of its own) never changes which URL is fetched;
    sentence punctuation after it is not part of it."""
    url = f"{scheme}://{host}/{path}".rstrip(".,;:!?")
    steps = plan(f"{before} {url}{after} and more")
    assert steps[0].type == "fetch_url"
    assert steps[0].params["url"] == url
