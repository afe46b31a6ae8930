"""The rule planner: what each wording of a request becomes, and that every plan it makes
passes the registry's validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_common import plans
from agent_common.urls import canonical, find_url, find_urls
from agent_orchestrator.planner import plan, plan_request

LIMITS = plans.Limits(max_steps=20, max_fetches=5)


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("Summarize this article: https://example.org/a/b?c=1#d", "https://example.org/a/b?c=1#d"),
        ("Summarize https://example.org/post.", "https://example.org/post"),
        ("(see http://example.org/x), thanks", "http://example.org/x"),
        ("an IPv6 host http://[2001:db8::1]:8080/p works", "http://[2001:db8::1]:8080/p"),
        ("HTTPS://EXAMPLE.ORG/UPPER", "HTTPS://EXAMPLE.ORG/UPPER"),
        ("first http://a.example/1 then http://b.example/2", "http://a.example/1"),
        ("ftp://example.org/file is not fetched", None),
        ("just text, no link", None),
        ("http:// alone", None),
    ],
)
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
    assert plans.validate(steps, limits=LIMITS, urls=find_urls(text))
    plans.check_one_final(steps)
    for step in steps:
        if step.type == "fetch_url":
            url = step.params["url"]
            assert url.lower().startswith(("http://", "https://")) and url in text
            assert not any(c.isspace() for c in url)
    if not find_urls(text):
        assert [(s.type, s.params) for s in steps] == [("summarize", {"text": text})]


URL_CHARS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-._~/%?=&+#@!$*,;:"), max_size=40)


HOSTS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)


AROUND = st.text(st.characters(exclude_characters=":/"), max_size=60)  # holds no URL of its own


@given(
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    HOSTS,
    URL_CHARS,
    AROUND,
    st.sampled_from(["", ".", ",", "!", ")"]),
)
def test_a_url_in_any_text_is_planned_exactly(
    scheme: str, host: str, path: str, before: str, after: str
) -> None:
    """Text around a URL (without one of its own) never changes which URL is fetched;
    sentence punctuation after it is not part of it."""
    url = f"{scheme}://{host}/{path}".rstrip(".,;:!?")
    steps = plan(f"{before} {url}{after} and more")
    assert steps[0].type == "fetch_url"
    assert steps[0].params["url"] == url


A, B, C = "https://a.example/one", "https://b.example/two", "http://c.example/3?x=1"


def shape(description: str) -> tuple[str, list[str]]:
    """(intent, [type of each step]) of the rule plan."""
    found = plan_request(description, 5)
    return found.intent, [s.type for s in found.steps]


BRANCH = ["fetch_url", "extract_text"]


@pytest.mark.parametrize(
    ("description", "intent", "types"),
    [
        # one URL to summarize, however it is asked
        (f"Summarize {A}", "summary", [*BRANCH, "summarize"]),
        (f"Summarise this article: {A}.", "summary", [*BRANCH, "summarize"]),
        (f"Can you summarize {A}?", "summary", [*BRANCH, "summarize"]),
        (f"What is the gist of {A}?", "summary", [*BRANCH, "summarize"]),
        (f"tl;dr {A}", "summary", [*BRANCH, "summarize"]),
        (f"{A}", "summary", [*BRANCH, "summarize"]),
        (f"Read {A} for me", "summary", [*BRANCH, "summarize"]),
        # a question about a page
        (f"What does {A} say about pricing?", "answer", [*BRANCH, "answer"]),
        (f"According to {A}, when was the bridge opened", "answer", [*BRANCH, "answer"]),
        (f"Who wrote {A}?", "answer", [*BRANCH, "answer"]),
        (f"How does {A} explain the outage?", "answer", [*BRANCH, "answer"]),
        (f"Summarize {A} and tell me what it says about the budget", "answer", [*BRANCH, "answer"]),
        (f"Is the drug approved in Europe? See {A}", "answer", [*BRANCH, "answer"]),
        (f"What do {A} and {B} say about the vote?", "answer", [*BRANCH, *BRANCH, "answer"]),
        # several pages compared
        (f"Summarize and compare {A}, {B} and {C}", "compare", [*BRANCH, *BRANCH, *BRANCH, "compare"]),
        (f"Compare {A} with {B}", "compare", [*BRANCH, *BRANCH, "compare"]),
        (f"What are the differences between {A} and {B}?", "compare", [*BRANCH, *BRANCH, "compare"]),
        (f"{A} vs {B}", "compare", [*BRANCH, *BRANCH, "compare"]),
        (f"{A} versus {B}: which is better?", "compare", [*BRANCH, *BRANCH, "compare"]),
        (f"How are {A} and {B} similar?", "compare", [*BRANCH, *BRANCH, "compare"]),
        (f"Contrast {A} and {B}", "compare", [*BRANCH, *BRANCH, "compare"]),
        # several pages summarized side by side... unless compared
        (f"Summarize {A} and {B}", "summaries", [*BRANCH, "summarize", *BRANCH, "summarize", "combine"]),
        (
            f"Read these: {A} {B} {C}",
            "summaries",
            [*BRANCH, "summarize", *BRANCH, "summarize", *BRANCH, "summarize", "combine"],
        ),
        # a comparison word with one page is no comparison
        (f"Compare {A} with what you know", "summary", [*BRANCH, "summarize"]),
        # no URL: the text itself, as always
        ("Compare apples and pears? No link here.", "text", ["summarize"]),
    ],
)
def test_wordings(description: str, intent: str, types: list[str]) -> None:
    assert shape(description) == (intent, types)


def test_compare_plan_is_three_optional_branches_joined() -> None:
    steps = plan(f"Summarize and compare {A}, {B} and {C}")
    by_id = {s.id: s for s in steps}
    assert [by_id[f"fetch_{n}"].params["url"] for n in (1, 2, 3)] == [A, B, C]
    assert by_id["compare"].depends_on == ("extract_1", "extract_2", "extract_3")
    assert not by_id["compare"].optional
    assert all(by_id[f"{kind}_{n}"].optional for kind in ("fetch", "extract") for n in (1, 2, 3))
    assert [s.id for s in plans.validate(steps, limits=LIMITS, urls=[A, B, C])][-1] == "compare"


def test_question_is_the_request() -> None:
    request = f"What does {A} say about the river?"
    steps = plan(request)
    assert steps[-1].params == {"question": request}
    assert steps[-1].depends_on == ("extract_1",)
    assert not any(s.optional for s in steps)  # one page: its failure is the task's


def test_summaries_of_several_pages_are_joined_in_order() -> None:
    steps = plan(f"Summarize {A} and {B}")
    assert steps[-1].depends_on == ("summarize_1", "summarize_2")
    assert {s.id for s in steps if s.optional} == {
        "fetch_1",
        "extract_1",
        "summarize_1",
        "fetch_2",
        "extract_2",
        "summarize_2",
    }


def test_urls_beyond_the_fetch_limit_are_left_out_and_said_so() -> None:
    urls = [f"https://p{n}.example/" for n in range(7)]
    found = plan_request("Summarize " + " ".join(urls), 5)
    fetched = [s.params["url"] for s in found.steps if s.type == "fetch_url"]
    assert fetched == urls[:5]
    assert found.note == "the request names 7 URLs; the first 5 are read (PLAN_MAX_FETCHES)"


def test_find_urls_in_order_once() -> None:
    assert find_urls(f"{A}, then {B}. And {A} again") == [A, B]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://A.example/x", "https://a.example/x"),
        ("https://a.example:443/x#frag", "https://a.example/x"),
        ("http://a.example", "http://a.example/"),
    ],
)
def test_canonical_urls(a: str, b: str) -> None:
    assert canonical(a) == canonical(b)
