"""The tool registry and plan validation: every tool checks its parameters, and a plan with
an unknown tool, bad parameters, wrong inputs, a cycle, too many steps or fetches, or a
URL the request does not name is refused with a reason a person can act on."""

from __future__ import annotations

import pytest

from agent_common import plans, tools
from agent_common.plans import Limits, PlanError, PlanStep
from agent_worker.steps import registry

A, B = "https://a.example/one", "https://b.example/two"
LIMITS = Limits(max_steps=8, max_fetches=3)

# (tool, parameters it accepts, parameters it refuses)
PARAMS = [
    (
        "fetch_url",
        {"url": A},
        [
            {},
            {"url": "ftp://a.example/"},
            {"url": 5},
            {"url": A, "extra": 1},
            {"url": "https://" + "a" * 2050},
        ],
    ),
    ("extract_text", {}, [{"html": "<p>"}]),
    ("summarize", {"text": "Some text."}, [{"text": 5}, {"length": 3}]),
    ("answer", {"question": "Who won?"}, [{}, {"question": ""}, {"question": "x" * 1001}]),
    ("compare", {}, [{"focus": 1}]),
    ("combine", {}, [{"x": 1}]),
    ("echo", {"text": "ok"}, [{"text": []}]),
]


def test_every_tool_is_in_the_registry_and_the_worker() -> None:
    assert {name for name, _, _ in PARAMS} | {"replan"} == set(tools.BY_NAME) == set(registry())
    assert [t.name for t in tools.listed()] == [
        "fetch_url",
        "extract_text",
        "summarize",
        "answer",
        "compare",
        "combine",
    ]


@pytest.mark.parametrize(("name", "good", "bad"), PARAMS, ids=[p[0] for p in PARAMS])
def test_each_tool_checks_its_parameters(name: str, good: dict, bad: list[dict]) -> None:  # type: ignore[type-arg]
    assert tools.check_params(name, good) == []
    for params in bad:
        assert tools.check_params(name, params), (name, params)


def compare_plan(*urls: str) -> list[PlanStep]:
    steps = []
    for n, url in enumerate(urls, 1):
        steps += [
            PlanStep("fetch_url", {"url": url}, f"f{n}"),
            PlanStep("extract_text", {}, f"e{n}", (f"f{n}",)),
        ]
    return [*steps, PlanStep("compare", {}, "c", tuple(f"e{n}" for n in range(1, len(urls) + 1)))]


def refused(steps: list[PlanStep], urls: tuple[str, ...] = (A, B), limits: Limits = LIMITS) -> str:
    with pytest.raises(PlanError) as info:
        plans.validate(steps, limits=limits, urls=urls)
    return info.value.reason


def test_a_valid_plan_comes_back_in_running_order() -> None:
    steps = compare_plan(A, B)
    shuffled = [steps[4], steps[3], steps[1], steps[2], steps[0]]
    ordered = plans.validate(shuffled, limits=LIMITS, urls=[A, B])
    assert [s.id for s in ordered] == ["f2", "f1", "e2", "e1", "c"]


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        (
            [PlanStep("browse", {"url": A}, "b")],
            "step 'b' uses the unknown tool 'browse' (known: fetch_url, extract_text, summarize, "
            "answer, compare, combine)",
        ),
        ([PlanStep("echo", {"text": "x"}, "e")], "step 'e' uses the unknown tool 'echo'"),
        ([PlanStep("fetch_url", {"link": A}, "f")], "step 'f' (fetch_url) has bad parameters:"),
        (
            [PlanStep("fetch_url", {"url": "file:///etc/passwd"}, "f")],
            "step 'f' (fetch_url) has bad parameter 'url': 'file:///etc/passwd' does not match",
        ),
        (
            [PlanStep("answer", {}, "a")],
            "step 'a' (answer) has bad parameters: 'question' is a required property",
        ),
        ([PlanStep("summarize", {}, "Bad Id")], "step id 'Bad Id' is not valid"),
        (
            [PlanStep("summarize", {"text": "x"}, "s"), PlanStep("summarize", {"text": "y"}, "s")],
            "two steps have the id 's'",
        ),
        (
            [PlanStep("summarize", {}, "s", ("nowhere",))],
            "step 's' depends on 'nowhere', which the plan does not have",
        ),
        (
            [PlanStep("fetch_url", {"url": A}, "f"), PlanStep("summarize", {}, "s", ("f",))],
            "step 's' (summarize) takes text, not the page of 'f' (fetch_url)",
        ),
        (
            [
                PlanStep("fetch_url", {"url": A}, "f"),
                PlanStep("extract_text", {}, "e", ("f",)),
                PlanStep("compare", {}, "c", ("e",)),
            ],
            "step 'c' (compare) needs at least 2 input(s), not 1",
        ),
        (
            [PlanStep("summarize", {}, "s")],
            "step 's' (summarize) needs a text: its 'text' parameter or an input",
        ),
        (
            [PlanStep("extract_text", {}, "a", ("b",)), PlanStep("extract_text", {}, "b", ("a",))],
            "the plan has a cycle: a -> b -> a",
        ),
        (
            [
                PlanStep("fetch_url", {"url": A}, "f"),
                PlanStep("extract_text", {}, "e", ("f",)),
                PlanStep("extract_text", {}, "x", ("e",)),
            ],
            "step 'x' (extract_text) takes page, not the text of 'e' (extract_text)",
        ),
        (
            [
                PlanStep("summarize", {}, "a", ("c",)),
                PlanStep("summarize", {}, "b", ("a",)),
                PlanStep("summarize", {}, "c", ("b",)),
            ],
            "the plan has a cycle: a -> c -> b -> a",
        ),
        ([], "the plan has no steps"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(steps: list[PlanStep], reason: str) -> None:
    assert refused(steps).startswith(reason)


def test_too_many_steps() -> None:
    steps = [PlanStep("summarize", {"text": str(n)}, f"s{n}") for n in range(9)]
    assert refused(steps) == "the plan has 9 steps; at most 8 are allowed (PLAN_MAX_STEPS)"


def test_too_many_fetches() -> None:
    urls = tuple(f"https://p{n}.example/" for n in range(4))
    assert (
        refused(compare_plan(*urls), urls, Limits(20, 3))
        == "the plan fetches 4 pages; at most 3 are allowed (PLAN_MAX_FETCHES)"
    )


def test_a_url_the_request_does_not_name_is_refused_unless_allowed() -> None:
    steps = compare_plan(A, "http://169.254.169.254/latest/meta-data/")
    assert refused(steps) == (
        "step 'f2' fetches http://169.254.169.254/latest/meta-data/, which the request"
        " does not name (PLAN_ALLOW_OTHER_URLS is off)"
    )
    allowed = Limits(8, 3, allow_other_urls=True)
    assert plans.validate(steps, limits=allowed, urls=[A])  # the SSRF guard still stands at fetch time
    # the same address spelled differently is the same URL
    assert plans.validate(compare_plan("HTTPS://A.example:443/one#top", B), limits=LIMITS, urls=[A, B])


def test_one_final_step() -> None:
    two_ends = [PlanStep("summarize", {"text": "x"}, "a"), PlanStep("summarize", {"text": "y"}, "b")]
    with pytest.raises(
        PlanError, match="the plan must end in one step, whose output is the result; it ends in 2: 'a', 'b'"
    ):
        plans.check_one_final(two_ends)
    joined = plans.joined(two_ends)
    assert joined[-1] == PlanStep("combine", {}, "combine", ("a", "b"))
    plans.check_one_final(plans.validate(joined, limits=LIMITS, urls=[]))
    # the final step's output is the result: it cannot be optional (its failure would leave
    # the task without one)
    optional_end = [PlanStep("summarize", {"text": "x"}, "a", (), True)]
    assert plans.joined(optional_end) == [PlanStep("summarize", {"text": "x"}, "a", (), False)]


def test_a_replan_extends_a_plan_within_the_same_limits() -> None:
    existing = plans.validate(compare_plan(A, B), limits=LIMITS, urls=[A, B])
    more = [
        PlanStep("fetch_url", {"url": "https://c.example/"}, "f3"),
        PlanStep("extract_text", {}, "e3", ("f3",)),
    ]
    assert plans.validate(more, limits=LIMITS, urls=[A, B, "https://c.example/"], existing=existing)
    with pytest.raises(PlanError, match="two steps have the id 'f1'"):
        plans.validate([PlanStep("fetch_url", {"url": A}, "f1")], limits=LIMITS, urls=[A], existing=existing)
    with pytest.raises(PlanError, match="the plan has 9 steps; at most 8"):
        plans.validate(
            [*more, PlanStep("summarize", {}, "s3", ("e3",)), PlanStep("summarize", {}, "s4", ("e3",))],
            limits=LIMITS,
            urls=[A, B, "https://c.example/"],
            existing=existing,
        )


def test_steps_without_ids_are_a_chain() -> None:
    chain = plans.as_graph([PlanStep("echo", {"text": "a"}), PlanStep("echo", {"text": "b"})])
    assert [(s.id, s.depends_on) for s in chain] == [("echo_1", ()), ("echo_2", ("echo_1",))]


def test_steps_from_a_models_json() -> None:
    steps = plans.from_dicts(
        [
            {"id": "f", "type": "fetch_url", "params": {"url": A}},
            {"id": "e", "tool": "extract_text", "depends_on": ["f"], "optional": True},
        ]
    )
    assert steps == [PlanStep("fetch_url", {"url": A}, "f"), PlanStep("extract_text", {}, "e", ("f",), True)]
    with pytest.raises(PlanError, match="depends_on must be a list of step ids"):
        plans.from_dicts([{"id": "x", "type": "summarize", "depends_on": "f"}])
