"""replan: after the branches of a model's plan completed, the model may add steps once.

The orchestrator puts this step before the final one of a plan the model made (with the
request and the plan in its params). It shows the model what each step found and the links
the fetched pages hold, and asks whether more steps would make the answer better, for
example fetching a page an article links to. The steps it adds are validated against the
registry and the same limits as the first plan (the whole plan counts), may fetch only the
request's URLs or those links (unless PLAN_ALLOW_OTHER_URLS), and cannot add another
re-plan. The worker stores them in the same transaction that records this step
(agent_worker.store.complete_replan); the final step then also reads those of them that
nothing else reads. Whatever goes wrong (no model, a timeout, a refused plan) adds nothing:
the task goes on with the plan it had, and the reason is on this step's output.
"""

from __future__ import annotations

import logging
from typing import Any

from agent_common import plans, tools
from agent_common.planning import model
from agent_common.plans import PlanError, PlanStep
from agent_common.urls import find_urls
from agent_worker import metrics
from agent_worker.links import page_links
from agent_worker.steps import StepContext, StepInput
from agent_worker.steps.summarize import llm_settings

log = logging.getLogger("agent.worker.replan")


async def run(params: dict[str, Any], inputs: list[StepInput], ctx: StepContext) -> dict[str, Any]:
    request = str(params.get("request") or "")
    existing = plans.from_dicts(params.get("plan") or [])
    links = _links(inputs, ctx)
    if ctx.settings.llm_provider == "offline":
        return _none("no model is configured (LLM_PROVIDER=offline)", "none")
    s = ctx.settings
    final = existing[-1].id if existing else "?"
    system = (
        model.SYSTEM.format(max_steps=s.plan_max_steps, max_fetches=s.plan_max_fetches)
        + "\n\n"
        + model.REPLAN.format(final=final, max_steps=s.plan_max_steps, max_fetches=s.plan_max_fetches)
    )
    prompt = model.replan_prompt(request, _views(existing, inputs, ctx), links)
    try:
        answer = await model.ask(
            llm_settings(), system, prompt, max_tokens=s.planner_max_tokens, timeout_s=s.replan_timeout_s
        )
    except model.NoPlan as exc:
        return _none(f"the model was not asked or did not answer: {exc.detail}", "failed")
    usage = _usage(answer)
    ctx.usage = usage
    if answer.problem:
        return _none(f"the model's added steps were refused: {answer.problem}", "refused")
    if not answer.steps:
        return _none("the model added no steps", "none")
    try:
        added = checked(answer.steps, existing, [*find_urls(request), *links], ctx.step_id, ctx)
    except PlanError as exc:
        log.info("re-plan of task %s refused: %s", ctx.task_id, exc.reason)
        return _none(f"the model's added steps were refused: {exc.reason}", "refused")
    metrics.REPLANS.labels("added").inc()
    return {"added": [a.as_dict() for a in added], "note": None, "links_offered": len(links)}


def checked(
    added: list[PlanStep], existing: list[PlanStep], urls: list[str], replan_id: str, ctx: StepContext
) -> list[PlanStep]:
    """The added steps in a runnable order, or a PlanError: the registry's rules over the
    whole plan, no step reading the final step or this one, and a final step that can read
    what the new steps end in."""
    final = existing[-1]
    for step in added:
        late = {final.id, replan_id} & set(step.depends_on)
        if late:
            raise PlanError(
                f"step {step.id!r} depends on {sorted(late)[0]!r}, which runs after the new steps"
            )
    ordered = plans.validate(added, limits=ctx.settings.limits(), urls=urls, existing=existing)
    final_tool = tools.BY_NAME[final.type]
    for end in plans.finals(ordered):
        kind = tools.BY_NAME[end.type].gives
        if kind not in final_tool.takes:
            raise PlanError(
                f"the final step {final.id!r} ({final.type}) cannot read the {kind} of {end.id!r}"
                f" ({end.type})"
            )
    return ordered


def _none(note: str, outcome: str) -> dict[str, Any]:
    metrics.REPLANS.labels(outcome).inc()
    return {"added": [], "note": note}


def _usage(answer: model.ModelPlan) -> dict[str, Any]:
    return {
        "provider": llm_settings().llm_provider,
        "model": answer.model,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "cost_usd": float(answer.cost_usd) if answer.cost_usd is not None else None,
        "latency_ms": answer.latency_ms,
    }


def _links(inputs: list[StepInput], ctx: StepContext) -> list[str]:
    """The links of every fetched page, each once."""
    found: list[str] = []
    for item in inputs:
        page = item.output or {}
        if item.type != "fetch_url" or not isinstance(page.get("html"), str):
            continue
        base = page.get("final_url") or page.get("url") or ""
        for link in page_links(page["html"], base, ctx.settings.replan_max_links):
            if link not in found:
                found.append(link)
    return found


def _views(existing: list[PlanStep], inputs: list[StepInput], ctx: StepContext) -> list[dict[str, Any]]:
    """Each step of the plan with a short view of what it found."""
    by_id = {i.step_id: i for i in inputs}
    views = []
    for step in existing:
        got = by_id.get(step.id)
        if step.type == "replan" or step is existing[-1]:
            status = "not run yet"
        elif got is not None and got.output is None:
            status = f"missing ({got.error})"
        else:
            status = "done"
        view = _view(got.output, ctx.settings.replan_context_chars) if got and got.output else ""
        views.append(
            {
                "id": step.id,
                "type": step.type,
                "params": step.params,
                "depends_on": list(step.depends_on),
                "status": status,
                "view": view,
            }
        )
    return views


def _view(output: dict[str, Any], limit: int) -> str:
    if "html" in output:
        return f"fetched {output.get('final_url')} (HTTP {output.get('status_code')})"
    for key in ("summary", "answer", "text"):
        value = output.get(key)
        if isinstance(value, str) and value:
            title = output.get("title")
            head = f"{title}: " if isinstance(title, str) and title else ""
            return (head + value)[:limit]
    return ""
