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
