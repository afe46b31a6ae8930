"""Choosing a task's plan: the model's, when LLM_PROVIDER names one and its plan passes the
registry's validation; otherwise the rules' (agent_orchestrator.planner), with the reason
the model's plan was not used kept on the task (`plan_note`) and counted by reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from agent_common import plans, tracing
from agent_common.llm.settings import LLMSettings
from agent_common.planning import model
from agent_common.plans import PlanError, PlanStep
from agent_common.urls import find_urls
from agent_orchestrator import metrics
from agent_orchestrator.planner import RulePlan, plan_request
from agent_orchestrator.settings import OrchestratorSettings
from agent_orchestrator.store import PlanInfo

log = logging.getLogger("agent.orchestrator.planning")

REPLAN_ID = "replan"


@dataclass(frozen=True)
class Planned:
    steps: list[PlanStep]  # validated, in an order that runs each after what it depends on
    info: PlanInfo
    fallback: str | None = None  # why the model's plan was not used (a metrics label)


class Planner:
    def __init__(self, settings: OrchestratorSettings | None = None, llm: LLMSettings | None = None) -> None:
        self.settings = settings or OrchestratorSettings()
        if llm is None and self.settings.llm_provider != "offline" and self.settings.plan_with_llm:
            llm = LLMSettings()
        self.llm = llm

    async def plan(self, description: str) -> Planned:
        """The plan (in the caller's `plan` span, with the model's spans under it)."""
        planned = await self._plan(description)
        tracing.annotate(
            None,
            {
                "agent.plan.source": planned.info.source,
                "agent.plan.steps": len(planned.steps),
                "agent.plan.fallback": planned.fallback or "",
            },
        )
        metrics.PLANS.labels(planned.info.source).inc()
        metrics.PLAN_STEPS.observe(len(planned.steps))
        if planned.fallback:
            metrics.FALLBACKS.labels(planned.fallback).inc()
        info = planned.info
        if info.prompt_tokens is not None:
            metrics.PLAN_TOKENS.observe((info.prompt_tokens or 0) + (info.completion_tokens or 0))
        return planned

    async def _plan(self, description: str) -> Planned:
        rules = plan_request(description, self.settings.plan_max_fetches)
        if self.llm is None:
            return Planned(rules.steps, PlanInfo("rules", rules.note))
        s = self.settings
        system = model.SYSTEM.format(max_steps=s.plan_max_steps, max_fetches=s.plan_max_fetches)
        try:
            answer = await model.ask(
                self.llm,
                system,
                model.first_prompt(description),
                max_tokens=s.planner_max_tokens,
                timeout_s=s.planner_timeout_s,
            )
        except model.NoPlan as exc:
            return self._fallback(rules, exc.reason, exc.detail, None)
        try:
            steps = self._model_steps(answer, description)
        except PlanError as exc:
            refused = f"the model's plan was refused: {exc.reason}"
            return self._fallback(rules, "invalid_plan", refused, answer)
        return Planned(steps, _info("llm", None, answer))

    def _model_steps(self, answer: model.ModelPlan, description: str) -> list[PlanStep]:
        if answer.problem:
            raise PlanError(answer.problem)
        if not answer.steps:
            said = f" (it said: {answer.text[:200]!r})" if answer.text.strip() else ""
            raise PlanError(f"the model called no tool{said}")
        steps = plans.joined(answer.steps)
        ordered = self._checked(steps, find_urls(description))
        return self._with_replan(ordered, description)

    # The rule planner's plans are not validated again here: they are built from the URLs
    # the same patterns find, and tests/orchestrator/test_planner.py validates the plan of any text
    # (Hypothesis) against the registry; validating costs ~30 us a step (jsonschema), three
    # times the rest of planning. A model's plan is always validated.
    def _checked(self, steps: list[PlanStep], urls: list[str]) -> list[PlanStep]:
        ordered = plans.validate(steps, limits=self.settings.limits(), urls=urls)
        plans.check_one_final(ordered)
        return ordered

    def _with_replan(self, steps: list[PlanStep], description: str) -> list[PlanStep]:
        """A `replan` step before the final one: once the steps the final one reads (and every
        fetch, whose page's links the model may follow) are done, the model may add steps
        within the same limits; the final step then reads those too."""
        final, s = steps[-1], self.settings
        if not s.plan_replan or not final.depends_on or len(steps) >= s.plan_max_steps:
            return steps
        fetches = tuple(x.id for x in steps if x.type == "fetch_url" and x.id not in final.depends_on)
        replan = PlanStep("replan", {}, _free_id(steps, REPLAN_ID), (*final.depends_on, *fetches))
        planned = [*steps[:-1], replan, replace(final, depends_on=(*final.depends_on, replan.id))]
        params = {"request": description, "plan": [x.as_dict() for x in planned]}
        return [*planned[:-2], replace(replan, params=params), planned[-1]]

    def _fallback(self, rules: RulePlan, reason: str, detail: str, answer: model.ModelPlan | None) -> Planned:
        log.warning("planning by the rules: %s", detail)
        note = f"{detail}; planned by the rules instead" + (f" ({rules.note})" if rules.note else "")
        return Planned(rules.steps, _info("rules", note, answer), reason)


def _info(source: str, note: str | None, answer: model.ModelPlan | None) -> PlanInfo:
    if answer is None:
        return PlanInfo(source, note)
    return PlanInfo(
        source,
        note,
        answer.model,
        answer.prompt_tokens,
        answer.completion_tokens,
        answer.cost_usd,
        answer.latency_ms,
    )


def _free_id(steps: list[PlanStep], base: str) -> str:
    taken = {s.id for s in steps}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name
