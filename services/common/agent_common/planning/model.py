"""Asking a model for a plan: the registry goes to it as tools, one call per step.

Each listed tool of agent_common.tools is offered under its own name; a call's arguments
are the step: `id`, `depends_on`, `optional` and the tool's `params` (its JSON Schema). The
calls of one answer are the plan. The same conversation, given what the steps found, lets
the model add steps once (a re-plan). Whatever comes back is validated by the caller
(agent_common.plans) before anything runs.

The spans follow the seed's Prompt -> LLM -> Response -> Action, as children of the caller's
`plan` span: `plan prompt` (what is asked), `chat <model>` (the provider's call, GenAI
attributes), `plan response` (what came back); the caller adds `plan action` (what it did
with the plan).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent_common import tools, tracing
from agent_common.llm import errors
from agent_common.llm.factory import make_provider
from agent_common.llm.pricing import cost_usd
from agent_common.llm.settings import LLMSettings
from agent_common.llm.types import Completion, LLMRequest, Message, ToolCall, ToolSpec
from agent_common.plans import PlanError, PlanStep

SYSTEM = """You plan how an agent system carries out a user's request. You do not answer the request \
yourself: you call the tools below, one call per step of the plan. Every call needs an "id" (lower-case \
letters, digits and _), "params" for the tool, and "depends_on": the ids of the steps whose output the \
step reads. Steps that depend on nothing run at once and in parallel. The plan must end in exactly one \
step, whose output is the answer the user gets. Fetch only the URLs the request names. A web page is \
read by fetch_url, then extract_text; text tools (summarize, answer, compare) read extract_text's output. \
Mark a branch "optional": true when the plan can do without it (for example one of several pages).
Limits: at most {max_steps} steps and {max_fetches} fetches."""

REPLAN = """The steps below have run; their results follow. You may add steps once, with the same \
tools, if they would make the final answer better (for example fetch a page an article links to, then \
extract it). New steps may depend on the existing ones; the final step ({final}) will also read the \
new steps that nothing else depends on. Call no tool if nothing needs adding. Fetch only the URLs of \
the request or the links listed. Limits for the whole plan: at most {max_steps} steps and \
{max_fetches} fetches."""

_STEP_FIELDS = {"id", "depends_on", "optional", "params"}


@dataclass(frozen=True)
class ModelPlan:
    steps: list[PlanStep]
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None
    latency_ms: int
    text: str = ""  # what the model said besides its calls
    problem: str | None = None  # why its calls make no plan at all (malformed arguments)


class NoPlan(Exception):
    """The model was not asked or did not answer: `reason` is a metrics label
    (timeout, rate_limited, unavailable, auth, upstream_error, ...), `detail` for a person.
    `usage` holds what a call that did answer cost, when one did."""

    def __init__(self, reason: str, detail: str, usage: ModelPlan | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.usage = usage


def tool_specs() -> list[ToolSpec]:
    """The listed tools as the model sees them."""
    return [ToolSpec(t.name, _describe(t), _step_schema(t)) for t in tools.listed()]


def _describe(tool: tools.Tool) -> str:
    takes = f" Reads the output of {' or '.join(tool.takes)} steps." if tool.takes else ""
    return f"{tool.description}{takes} Gives {tool.gives}."


def _step_schema(tool: tools.Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "this step's id, unique in the plan"},
            "depends_on": {
                "type": "array",
                "items": {"type": "string"},
                "description": "ids of the steps whose output this step reads",
            },
            "optional": {"type": "boolean", "description": "the plan can do without this step"},
            "params": tool.parameters,
        },
        "required": ["id", "params"],
    }


async def ask(
    settings: LLMSettings, system: str, prompt: str, *, max_tokens: int, timeout_s: float
) -> ModelPlan:
    """One model call; the plan its tool calls make (not validated yet). Raises NoPlan when
    the model fails or takes longer than timeout_s."""
    provider = make_provider(settings)
    if provider is None:
        raise NoPlan("offline", "LLM_PROVIDER is offline: there is no model to ask")
    with tracing.span(
        "plan prompt",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": provider.model,
            "agent.plan.prompt_chars": len(system) + len(prompt),
        },
    ) as span:
        request = LLMRequest(
            system=system, messages=[Message("user", prompt)], tools=tool_specs(), max_tokens=max_tokens
        )
        span.set_attribute("agent.plan.tools", len(request.tools))
    started = time.perf_counter()
    try:
        completion = await asyncio.wait_for(provider.complete(request), timeout_s)
    except TimeoutError:
        raise NoPlan("timeout", f"the model gave no plan within {timeout_s:g} s") from None
    except errors.LLMError as exc:
        raise NoPlan(exc.kind, exc.detail) from None
    finally:
        await provider.close()
    spent = _spent(settings, provider.model, completion, started)
    with tracing.span(
        "plan response",
        attributes={
            "gen_ai.response.model": completion.model,
            "agent.plan.calls": len(completion.tool_calls),
            "gen_ai.usage.input_tokens": spent.prompt_tokens,
            "gen_ai.usage.output_tokens": spent.completion_tokens,
        },
    ):
        try:
            steps, problem = [_step(call) for call in completion.tool_calls], None
        except PlanError as exc:
            steps, problem = [], exc.reason
    return ModelPlan(
        steps,
        spent.model,
        spent.prompt_tokens,
        spent.completion_tokens,
        spent.cost_usd,
        spent.latency_ms,
        completion.text,
        problem,
    )


def _spent(settings: LLMSettings, configured: str, completion: Completion, started: float) -> ModelPlan:
    usage = completion.usage
    return ModelPlan(
        [],
        completion.model or configured,
        usage.prompt_tokens,
        usage.completion_tokens,
        cost_usd(settings.llm_prices, configured, usage),
        round((time.perf_counter() - started) * 1000),
    )


def _step(call: ToolCall) -> PlanStep:
    """A tool call as a plan step. A model that puts the tool's params beside the step's
    fields rather than under "params" is understood too."""
    args = call.arguments
    params = args.get("params")
    if params is None:
        params = {k: v for k, v in args.items() if k not in _STEP_FIELDS}
    deps = args.get("depends_on") or []
    if not isinstance(params, dict):
        raise PlanError(f"the {call.name} call's params are not an object")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise PlanError(f"the {call.name} call's depends_on is not a list of step ids")
    return PlanStep(call.name, params, str(args.get("id") or ""), tuple(deps), args.get("optional") is True)


def first_prompt(request: str) -> str:
    return f"The user's request:\n{request}"


def replan_prompt(request: str, steps: list[dict[str, Any]], links: list[str]) -> str:
    """The request, each step (its tool, params and a short view of its output) and the links
    the fetched pages hold."""
    lines = [f"The user's request:\n{request}", "", "Steps so far:"]
    for s in steps:
        deps = f" after {', '.join(s['depends_on'])}" if s["depends_on"] else ""
        lines.append(f"- {s['id']} ({s['type']} {s['params']}{deps}): {s['status']}. {s['view']}")
    if links:
        lines += ["", "Links in the fetched pages:", *(f"- {u}" for u in links)]
    return "\n".join(lines)
