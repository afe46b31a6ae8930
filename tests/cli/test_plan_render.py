"""How agentctl draws plans it gets from the API, for the shapes the system test cannot reach
cheaply: a plan made by a model (its name, tokens, cost, latency and re-planned steps), the
note when a model's plan was not used, and the live view of a running step."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from agent_cli import plan


def drawn(renderable: Any, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def step(id_: str, type_: str, status: str, deps: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "type": type_,
        "status": status,
        "depends_on": deps,
        "params": {},
        "attempts": 1,
        "duration_ms": None,
        "error": None,
        "optional": False,
        **extra,
    }


def test_a_model_made_plan_says_which_model_and_what_it_cost() -> None:
    task = {
        "plan_source": "llm",
        "plan_note": None,
        "steps": [step("fetch_1", "fetch_url", "queued", [])],
        "plan": {
            "model": "gpt-4o-mini",
            "prompt_tokens": 1200,
            "completion_tokens": 34,
            "cost_usd": "0.00021",
            "latency_ms": 850,
            "replanned_steps": 2,
        },
    }
    text = drawn(plan.plan_view(task))
    assert (
        "planned by model gpt-4o-mini · 1,234 tokens · $0.0002 · 850 ms · 2 steps added after the branches"
    ) in text


def test_the_note_says_why_the_rules_planned_instead() -> None:
    task = {
        "plan_source": "rules",
        "plan": None,
        "steps": [step("fetch_1", "fetch_url", "queued", [])],
        "plan_note": "the model's plan was refused: it fetches https://elsewhere.example/",
    }
    text = drawn(plan.plan_view(task))
    assert "planned by the rules\nnote: the model's plan was refused: it fetches https://elsewhere" in text


def test_a_running_step_shows_its_spinner_and_a_waiting_join_its_inputs() -> None:
    steps = [
        step("fetch_1", "fetch_url", "completed", [], duration_ms=120),
        step("fetch_2", "fetch_url", "processing", [], params={"url": "https://example.org/b"}),
        step("answer", "answer", "queued", ["fetch_1", "fetch_2"], params={"question": "Why?"}),
    ]
    text = drawn(plan.plan_view({"plan_source": "rules", "steps": steps}, spinner="⠙"))
    assert "✓ fetch_url  completed  0.12s" in text and "▸ fetch_url  processing ⠙" in text
    assert "example.org/b" in text and "↓ step 3 reads branches 1 and 2" in text
    assert "· answer  queued" in text
