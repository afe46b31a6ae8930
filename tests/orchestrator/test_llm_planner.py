"""The model planner through the OpenAI- and Anthropic-wire stand-ins: the model gets the
registry as tools and its plan is taken when valid; an invalid plan, a slow model and a
failing one fall back to the rules with the reason on the task; the one re-plan after the
branches adds steps within the limits; tokens, cost and latency are recorded; the plan's
spans go Prompt -> LLM -> Response -> Action.

Each provider has an orchestrator and a worker of its own (own database, own Redis
database), so the stack's offline workers never take these tasks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from agent_common import migrate
from agent_common.devstack import ServiceProcess, Stack, free_port
from tests.conftest import LLM_ENV, MODEL, PRICE
from tests.support.llm_standins import AnthropicStandIn, OpenAIStandIn, Reply, StandIn
from tests.support.otlp import Collector
from tests.support.pageserver import PageServer
from tests.support.tasks import new_user, submit, wait_done

REDIS_DB = {"openai": 6, "anthropic": 7}
PLAN_ENV = {
    "PLANNER_TIMEOUT_S": "1",
    "LLM_TIMEOUT_S": "5",
    "PLAN_MAX_STEPS": "10",
    "PLAN_MAX_FETCHES": "3",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
}
LISTED = ["fetch_url", "extract_text", "summarize", "answer", "compare", "combine"]


@dataclass
class Planning:
    provider: str
    standin: StandIn
    orch: httpx.AsyncClient
    db: asyncpg.Pool
    urls: dict[str, str]
    collector: Collector

    def plans_asked(self) -> list[dict[str, Any]]:
        """The requests that offered the registry as tools (planning, not the steps' calls)."""
        return [r for r in self.standin.requests if r.get("tools")]


async def _start(
    stack: Stack,
    provider: str,
    standin: StandIn,
    collector: Collector,
    logs: Path,
    stack_of: list[ServiceProcess],
) -> tuple[str, dict[str, str]]:
    name = f"planner_{provider}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.pg.url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    db_url = stack.pg.url.rsplit("/", 1)[0] + "/" + name
    await migrate.apply(db_url)
    base = f"{standin.origin}/v1" if provider == "openai" else standin.origin
    env = {
        **stack.env(),
        **LLM_ENV,
        **PLAN_ENV,
        "DATABASE_URL": db_url,
        "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + f"/{REDIS_DB[provider]}",
        "LLM_PROVIDER": provider,
        "LLM_BASE_URL": base,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
    }
    orch_port, metrics_port = free_port(), free_port()
    urls = {"orchestrator": f"http://127.0.0.1:{orch_port}", "worker": f"http://127.0.0.1:{metrics_port}"}
    procs = [
        ServiceProcess(
            f"orchestrator-{provider}",
            "agent_orchestrator",
            {**env, "PORT": str(orch_port)},
            ready_url=f"{urls['orchestrator']}/ready",
            log_dir=logs,
        ),
        ServiceProcess(
            f"worker-{provider}",
            "agent_worker",
            {**env, "METRICS_PORT": str(metrics_port)},
            ready_url=f"{urls['worker']}/ready",
            log_dir=logs,
        ),
    ]
    stack_of.extend(procs)
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.wait_ready()
    return db_url, urls


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def planners(
    stack: Stack,
    openai_standin: OpenAIStandIn,
    anthropic_standin: AnthropicStandIn,
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, Planning]]:
    logs = tmp_path_factory.mktemp("planner-logs")
    procs: list[ServiceProcess] = []
    found: dict[str, Planning] = {}
    try:
        for provider, standin in (("openai", openai_standin), ("anthropic", anthropic_standin)):
            db_url, urls = await _start(stack, provider, standin, collector, logs, procs)
            pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
            client = httpx.AsyncClient(base_url=urls["orchestrator"], timeout=30)
            found[provider] = Planning(provider, standin, client, pool, urls, collector)
        yield found
    finally:
        for planning in found.values():
            await planning.orch.aclose()
            await planning.db.close()
        for proc in procs:
            proc.stop()


@pytest.fixture(params=["openai", "anthropic"])
def planning(request: pytest.FixtureRequest, planners: dict[str, Planning]) -> Iterator[Planning]:
    chosen = planners[request.param]
    chosen.standin.reset()
    yield chosen
    chosen.standin.reset()


def fetch(step_id: str, url: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return "fetch_url", {"id": step_id, "params": {"url": url}, **extra}


def extract(step_id: str, after: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return "extract_text", {"id": step_id, "depends_on": [after], "params": {}, **extra}


def compare_plan(a: str, b: str) -> Reply:
    return Reply(
        tool_calls=[
            fetch("get_a", a),
            extract("read_a", "get_a"),
            fetch("get_b", b),
            extract("read_b", "get_b"),
            ("compare", {"id": "both", "depends_on": ["read_a", "read_b"], "params": {}}),
        ]
    )


NOTHING_TO_ADD = Reply("Nothing to add: the two pages answer the request.")


def steps_of(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in task["steps"]}


def cost(prompt: int, completion: int) -> Decimal:
    return (
        (Decimal(str(PRICE["input"])) * prompt + Decimal(str(PRICE["output"])) * completion) / 1_000_000
    ).quantize(Decimal("0.000001"))


async def run(planning: Planning, description: str, timeout: float = 60) -> dict[str, Any]:
    user = new_user()
    tid = await submit(planning.orch, user, description)
    return (await wait_done(planning.orch, user, [tid], timeout=timeout))[tid]


async def test_a_valid_plan_from_the_model_is_taken(planning: Planning, pages: PageServer) -> None:
    a, b = pages.url("/pages/bbc-1.html"), pages.url("/pages/lwn-1.html")
    planning.standin.queue(compare_plan(a, b), NOTHING_TO_ADD)
    task = await run(planning, f"How do {a} and {b} differ?")
    assert task["status"] == "completed", task
    assert task["plan_source"] == "llm" and task["plan_note"] is None
    steps = steps_of(task)
    assert list(steps) == ["get_a", "get_b", "read_a", "read_b", "replan", "both"]
    assert steps["both"]["depends_on"] == ["read_a", "read_b", "replan"]
    assert all(s["status"] == "completed" for s in steps.values())
    assert steps["replan"]["output"]["added"] == [] and task["plan"]["replanned_steps"] == 0
    # the registry went to the model as tools, each step's params under the tool's own schema
    first = planning.plans_asked()[0]
    offered = (
        [t["function"]["name"] for t in first["tools"]]
        if planning.provider == "openai"
        else [t["name"] for t in first["tools"]]
    )
    assert offered == LISTED
    # what planning cost is on the task
    prompt, completion = planning.standin.usage_sent[0]
    plan = task["plan"]
    assert (plan["model"], plan["prompt_tokens"], plan["completion_tokens"]) == (MODEL, prompt, completion)
    assert Decimal(str(plan["cost_usd"])) == cost(prompt, completion) and plan["latency_ms"] > 0
    # and counted: plans by source, steps per task; the worker, the tokens of a completed task
    orchestrator = httpx.get(planning.urls["orchestrator"] + "/metrics").text
    assert 'orchestrator_plans_total{source="llm"}' in orchestrator
    assert "orchestrator_plan_steps_count" in orchestrator
    worker = httpx.get(planning.urls["worker"] + "/metrics").text
    counted = [line for line in worker.splitlines() if line.startswith("worker_task_llm_tokens_count ")]
    assert counted and float(counted[0].split()[1]) >= 1


# ten summaries of a text and their join: one step more than PLAN_MAX_STEPS
ELEVEN = [
    *(("summarize", {"id": f"s{n}", "params": {"text": "t"}}) for n in range(10)),
    ("combine", {"id": "all", "depends_on": [f"s{n}" for n in range(10)]}),
]
INVALID = {
    "unknown tool": (
        Reply(tool_calls=[("browse", {"id": "b", "params": {"url": "{a}"}})]),
        "step 'b' uses the unknown tool 'browse'",
    ),
    "bad parameters": (
        Reply(
            tool_calls=[
                ("fetch_url", {"id": "f", "params": {"link": "{a}"}}),
                extract("e", "f"),
                ("summarize", {"id": "s", "depends_on": ["e"]}),
            ]
        ),
        "step 'f' (fetch_url) has bad parameters",
    ),
    "cycle": (
        Reply(
            tool_calls=[
                ("summarize", {"id": "x", "depends_on": ["y"], "params": {}}),
                ("summarize", {"id": "y", "depends_on": ["x"], "params": {}}),
            ]
        ),
        "the plan has a cycle: x -> y -> x",
    ),
    "too many steps": (
        Reply(tool_calls=ELEVEN),
        "the plan has 11 steps; at most 10 are allowed (PLAN_MAX_STEPS)",
    ),
    "foreign URL": (
        Reply(
            tool_calls=[
                fetch("f", "http://169.254.169.254/latest/meta-data/"),
                extract("e", "f"),
                ("summarize", {"id": "s", "depends_on": ["e"], "params": {}}),
            ]
        ),
        "step 'f' fetches http://169.254.169.254/latest/meta-data/, which the request does not name",
    ),
    "no plan": (
        Reply("I would read the page and summarize it."),
        "the model called no tool (it said: 'I would read the page and summarize it.')",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_an_invalid_plan_falls_back_to_the_rules_with_the_reason(
    planning: Planning, pages: PageServer, case: str
) -> None:
    page = pages.url("/pages/mozilla-1.html")
    template, reason = INVALID[case]
    calls = [(n, json.loads(json.dumps(args).replace("{a}", page))) for n, args in template.tool_calls]
    planning.standin.queue(Reply(template.text, calls))
    task = await run(planning, f"Summarize {page}")
    assert task["status"] == "completed", task
    assert task["plan_source"] == "rules"
    assert task["plan_note"].startswith(f"the model's plan was refused: {reason}"), task["plan_note"]
    assert task["plan_note"].endswith("; planned by the rules instead")
    assert [s["id"] for s in task["steps"]] == ["fetch_1", "extract_1", "summarize_1"]
    # the refused plan still cost tokens: they are on the task
    prompt, completion = planning.standin.usage_sent[0]
    assert (task["plan"]["prompt_tokens"], task["plan"]["completion_tokens"]) == (prompt, completion)
    metrics = httpx.get(planning.urls["orchestrator"] + "/metrics").text
    assert 'orchestrator_plan_fallbacks_total{reason="invalid_plan"}' in metrics


@pytest.mark.parametrize(
    ("mode", "reason", "label"),
    [
        ("timeout", "the model gave no plan within 1 s", "timeout"),
        ("500", "(HTTP 500)", "upstream_error"),
        ("429", "rate limiting requests (HTTP 429)", "rate_limited"),
    ],
)
async def test_a_slow_or_failing_model_falls_back_to_the_rules(
    planning: Planning, pages: PageServer, mode: str, reason: str, label: str
) -> None:
    planning.standin.mode, planning.standin.hang_s = mode, 3.0
    page = pages.url("/pages/cnn.html")
    user = new_user()
    tid = await submit(planning.orch, user, f"Summarize {page}")
    planning.standin.reset()  # the steps' own model calls answer normally
    task = (await wait_done(planning.orch, user, [tid], timeout=60))[tid]
    assert task["status"] == "completed", task
    assert task["plan_source"] == "rules" and reason in task["plan_note"], task["plan_note"]
    assert task["plan"] is None  # no answer, no tokens
    metrics = httpx.get(planning.urls["orchestrator"] + "/metrics").text
    assert f'orchestrator_plan_fallbacks_total{{reason="{label}"}}' in metrics


async def test_the_model_adds_steps_once_after_the_branches(planning: Planning, pages: PageServer) -> None:
    """The page links to a follow-up; the re-plan fetches it, and the answer reads both."""
    follow_up = pages.url("/pages/wikipedia.html")
    article = pages.url(f"/linking?to={follow_up}")
    question = f"What does {article} say about dead-letter streams?"
    answer = ("answer", {"id": "reply", "depends_on": ["text"], "params": {"question": question}})
    plan = Reply(tool_calls=[fetch("page", article), extract("text", "page"), answer])
    more = Reply(tool_calls=[fetch("linked", follow_up), extract("linked_text", "linked")])
    planning.standin.queue(plan, more)
    task = await run(planning, question)
    assert task["status"] == "completed", task
    steps = steps_of(task)
    assert steps["replan"]["output"]["note"] is None, steps["replan"]["output"]
    assert list(steps) == ["page", "text", "replan", "reply", "linked", "linked_text"]
    assert steps["reply"]["depends_on"] == ["text", "replan", "linked_text"]
    assert all(s["status"] == "completed" for s in steps.values())
    assert task["plan"]["replanned_steps"] == 2
    assert [s["url"] for s in steps["reply"]["output"]["sources"]] == [article, follow_up]
    # the model was asked twice (plan and re-plan), saw the page's link, and its re-plan cost is recorded
    asked = planning.plans_asked()
    assert len(asked) == 2 and follow_up in json.dumps(asked[1])
    usage = steps["replan"]["output"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == planning.standin.usage_sent[1]


@pytest.mark.parametrize(
    ("added", "reason"),
    [
        (
            [fetch("f3", "{follow}"), fetch("f4", "{follow}?2"), extract("e3", "f3")],
            "the plan fetches 4 pages; at most 3 are allowed (PLAN_MAX_FETCHES)",
        ),
        (
            [fetch("f3", "http://10.0.0.1/admin"), extract("e3", "f3")],
            "step 'f3' fetches http://10.0.0.1/admin, which the request does not name",
        ),
        (
            [("replan", {"id": "again", "depends_on": ["read_a"], "params": {}})],
            "step 'again' uses the unknown tool 'replan'",
        ),
        (
            [fetch("f3", "{follow}")],
            "the final step 'both' (compare) cannot read the page of 'f3' (fetch_url)",
        ),
    ],
)
async def test_a_replan_beyond_the_limits_adds_nothing(
    planning: Planning, pages: PageServer, added: list[tuple[str, dict[str, Any]]], reason: str
) -> None:
    follow = pages.url("/pages/v8-blog.html")
    a, b = pages.url(f"/linking?to={follow}"), pages.url("/pages/lwn-1.html")
    calls = [(n, json.loads(json.dumps(args).replace("{follow}", follow))) for n, args in added]
    planning.standin.queue(compare_plan(a, b), Reply(tool_calls=calls))
    task = await run(planning, f"Compare {a} with {b}")
    assert task["status"] == "completed", task
    steps = steps_of(task)
    assert list(steps) == ["get_a", "get_b", "read_a", "read_b", "replan", "both"]
    note = steps["replan"]["output"]["note"]
    assert note.startswith(f"the model's added steps were refused: {reason}"), note
    assert task["plan"]["replanned_steps"] == 0 and len(planning.plans_asked()) == 2


async def test_the_plan_is_traced_prompt_llm_response_action(planning: Planning, pages: PageServer) -> None:
    a, b = pages.url("/pages/guardian-1.html"), pages.url("/pages/quanta-1.html")
    planning.standin.queue(compare_plan(a, b), NOTHING_TO_ADD)
    task = await run(planning, f"Compare {a} and {b}")
    found = planning.collector.wait_for(
        lambda s: s.name == "plan" and s.attributes.get("agent.task_id") == task["task_id"]
    )
    [spans] = found.values()
    [plan] = [s for s in spans if s.name == "plan"]
    children = sorted((s for s in spans if s.parent_id == plan.span_id), key=lambda s: s.start_ns)
    assert [s.name for s in children] == ["plan prompt", f"chat {MODEL}", "plan response", "plan action"]
    prompt, chat, response, action = children
    assert chat.kind == "CLIENT" and chat.attributes["gen_ai.request.model"] == MODEL
    assert chat.attributes["gen_ai.usage.input_tokens"] == planning.standin.usage_sent[0][0]
    assert response.attributes["agent.plan.calls"] == 5
    assert action.attributes["agent.plan.source"] == "llm" and action.attributes["agent.plan.steps"] == 6
    assert plan.attributes["agent.plan.source"] == "llm"


async def test_a_failed_branch_that_is_not_optional_stops_the_others(
    planning: Planning, pages: PageServer
) -> None:
    """The model marked no branch optional: one page answers 404, the task fails at once and
    the other branch, still fetching a slow page, is stopped."""
    gone, slow = pages.url("/status/404"), pages.url("/slow/ars-1.html?delay=8&stop=1")
    planning.standin.queue(compare_plan(gone, slow))
    user = new_user()
    tid = await submit(planning.orch, user, f"Compare {gone} with {slow}")
    task = (await wait_done(planning.orch, user, [tid], timeout=7))[tid]  # before the slow page
    assert task["status"] == "failed" and task["error"].startswith("fetch_url failed: ")
    assert "404" in task["error"]
    for _ in range(100):  # the stopped step is recorded within a halt check or two
        steps = steps_of((await planning.orch.get(f"/task/{tid}", headers={"X-User-Id": user})).json())
        if steps["get_b"]["status"] != "processing":
            break
        await asyncio.sleep(0.05)
    assert (steps["get_b"]["status"], steps["get_b"]["error"]) == ("skipped", "stopped: the task failed")
    assert {steps[s]["status"] for s in ("read_a", "read_b", "replan", "both")} == {"skipped"}
