"""The planning limits (environment variables), read by the orchestrator, which plans, and
by the worker, which runs the one re-plan a model may make."""

from __future__ import annotations

from pydantic import Field

from agent_common.plans import Limits
from agent_common.settings import Settings


class PlanSettings(Settings):
    plan_max_steps: int = Field(20, ge=1, le=1000)  # steps in a plan, a re-plan's included
    plan_max_fetches: int = Field(5, ge=1)  # fetch_url steps in a plan
    # a model's plan may fetch only URLs the request names (or, in a re-plan, that a fetched
    # page links to); true lets it fetch others (every fetch still passes the SSRF guard)
    plan_allow_other_urls: bool = False
    # with LLM_PROVIDER openai or anthropic, plans are asked of the model; false keeps the
    # rule planner (the model still writes summaries, answers and comparisons)
    plan_with_llm: bool = True
    # the model planner: how long the orchestrator waits for its plan, and how long it may be
    planner_timeout_s: float = Field(20.0, gt=0)
    planner_max_tokens: int = Field(1500, ge=64)
    # after the branches of a model's plan complete, the model may add steps once
    plan_replan: bool = True
    replan_timeout_s: float = Field(30.0, gt=0)
    replan_context_chars: int = Field(1500, ge=100)  # of each step's text shown to the model
    replan_max_links: int = Field(20, ge=0)  # links of each fetched page shown to it

    def limits(self) -> Limits:
        return Limits(self.plan_max_steps, self.plan_max_fetches, self.plan_allow_other_urls)
