"""Plans: graphs of steps, and the rules every plan must meet before it runs.

A plan is a list of `PlanStep`s, each naming a tool of the registry (agent_common.tools),
its params, and the ids of the steps whose outputs it reads (`depends_on`). `validate()`
refuses, with one clear reason, a plan that uses an unknown tool, gives a tool bad params or
the wrong inputs, has a cycle, is larger than the limits, fetches a URL the request did not
name, or does not end in one final step (whose output is the task's result).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent_common import tools
from agent_common.urls import canonical

STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class PlanStep:
    type: str  # the tool's name
    params: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    depends_on: tuple[str, ...] = ()
    # its failure (or a skip after a failure before it) does not fail the task; the steps
    # that depend on it run without its output and are told why
    optional: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "params": self.params,
            "depends_on": list(self.depends_on),
            "optional": self.optional,
        }


class PlanError(ValueError):
    """A plan that must not run; `reason` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_steps: int
    max_fetches: int
    allow_other_urls: bool = False


def as_graph(steps: Sequence[PlanStep]) -> list[PlanStep]:
    """Steps without ids (an older caller's list) become a chain, each reading the one
    before; a plan with ids is returned as it is."""
    if any(s.id for s in steps):
        return list(steps)
    out: list[PlanStep] = []
    for i, step in enumerate(steps):  # the constructor: replace() costs twice as much (benchmarks)
        out.append(
            PlanStep(
                step.type, step.params, f"{step.type}_{i + 1}", (out[-1].id,) if out else (), step.optional
            )
        )
    return out


def finals(steps: Sequence[PlanStep]) -> list[PlanStep]:
    """The steps no other step depends on."""
    used = {d for s in steps for d in s.depends_on}
    return [s for s in steps if s.id not in used]


def validate(
    steps: Sequence[PlanStep],
    *,
    limits: Limits,
    urls: Iterable[str],
    existing: Sequence[PlanStep] = (),
    internal: bool = False,
) -> list[PlanStep]:
    """The plan's steps in an order that runs each after what it depends on. `urls` are the
    addresses a fetch may use (the request's own); `existing` the steps of a plan being
    extended (a re-plan); `internal` admits the tools that are not listed."""
    if not steps:
        raise PlanError("the plan has no steps")
    known = {s.id: s for s in existing}
    total = len(existing) + len(steps)
    if total > limits.max_steps:
        raise PlanError(
            f"the plan has {total} steps; at most {limits.max_steps} are allowed (PLAN_MAX_STEPS)"
        )
    for step in steps:
        _check_step(step, known, internal)
        known[step.id] = step
    for step in steps:
        _check_references(step, known)
    ordered = _dependency_order(steps, set(s.id for s in existing))
    for step in steps:
        _check_inputs(step, known)
    _check_fetches(list(existing) + list(steps), limits, urls)
    return ordered


def _check_step(step: PlanStep, known: dict[str, PlanStep], internal: bool) -> None:
    if not STEP_ID.match(step.id):
        raise PlanError(
            f"step id {step.id!r} is not valid: lower-case letters, digits and _, "
            "starting with a letter, at most 40 characters"
        )
    if step.id in known:
        raise PlanError(f"two steps have the id {step.id!r}")
    tool = tools.get(step.type)
    if tool is None or not (tool.listed or internal):
        names = ", ".join(t.name for t in tools.listed())
        raise PlanError(f"step {step.id!r} uses the unknown tool {step.type!r} (known: {names})")
    problems = tools.check_params(step.type, step.params)
    if problems:
        where = f"parameter {problems[0].path!r}" if problems[0].path else "parameters"
        raise PlanError(f"step {step.id!r} ({step.type}) has bad {where}: {problems[0].message}")


def _check_references(step: PlanStep, known: dict[str, PlanStep]) -> None:
    if len(set(step.depends_on)) != len(step.depends_on):
        raise PlanError(f"step {step.id!r} names the same dependency twice")
    for dep in step.depends_on:
        if dep == step.id:
            raise PlanError(f"step {step.id!r} depends on itself")
        if dep not in known:
            raise PlanError(f"step {step.id!r} depends on {dep!r}, which the plan does not have")


def _check_inputs(step: PlanStep, known: dict[str, PlanStep]) -> None:
    tool = tools.BY_NAME[step.type]
    count = 0
    for dep in step.depends_on:
        kind = tools.BY_NAME[known[dep].type].gives
        if kind == tools.PLAN:  # a re-plan only orders the steps after it: no input
            continue
        count += 1
        if kind not in tool.takes:
            takes = " or ".join(tool.takes) or "no input"
            raise PlanError(
                f"step {step.id!r} ({step.type}) takes {takes}, not the {kind} of {dep!r} ({known[dep].type})"
            )
    if count < tool.min_inputs or (tool.max_inputs is not None and count > tool.max_inputs):
        wanted = (
            f"exactly {tool.min_inputs}"
            if tool.min_inputs == tool.max_inputs
            else f"at least {tool.min_inputs}"
            if tool.max_inputs is None
            else f"at most {tool.max_inputs}"
        )
        raise PlanError(f"step {step.id!r} ({step.type}) needs {wanted} input(s), not {count}")
    if step.type == "summarize" and not step.depends_on and "text" not in step.params:
        raise PlanError(f"step {step.id!r} (summarize) needs a text: its 'text' parameter or an input")


def _dependency_order(steps: Sequence[PlanStep], done: set[str]) -> list[PlanStep]:
    """Kahn's algorithm, keeping the given order among steps that are ready together."""
    waiting = list(steps)
    placed = set(done)
    ordered: list[PlanStep] = []
    while waiting:
        ready = [s for s in waiting if all(d in placed for d in s.depends_on)]
        if not ready:
            raise PlanError(f"the plan has a cycle: {' -> '.join(_cycle(waiting))}")
        for step in ready:
            ordered.append(step)
            placed.add(step.id)
        waiting = [s for s in waiting if s.id not in placed]
    return ordered


def _cycle(steps: Sequence[PlanStep]) -> list[str]:
    """One cycle among steps that cannot be ordered, as a path that ends where it starts."""
    by_id = {s.id: s for s in steps}
    path: list[str] = []
    current = steps[0].id
    while current not in path:
        path.append(current)
        current = next(d for d in by_id[current].depends_on if d in by_id)
    return path[path.index(current) :] + [current]


def _check_fetches(steps: Sequence[PlanStep], limits: Limits, urls: Iterable[str]) -> None:
    fetches = [s for s in steps if tools.BY_NAME[s.type].fetches]
    if len(fetches) > limits.max_fetches:
        raise PlanError(
            f"the plan fetches {len(fetches)} pages; at most {limits.max_fetches} are allowed"
            " (PLAN_MAX_FETCHES)"
        )
    if limits.allow_other_urls:
        return
    allowed = {canonical(u) for u in urls}
    for step in fetches:
        url = str(step.params.get("url", ""))
        if canonical(url) not in allowed:
            raise PlanError(
                f"step {step.id!r} fetches {url}, which the request does not name"
                " (PLAN_ALLOW_OTHER_URLS is off)"
            )


def check_one_final(steps: Sequence[PlanStep]) -> None:
    """The task's result is one step's output: a plan ends in exactly one step."""
    ends = finals(steps)
    if len(ends) != 1:
        names = ", ".join(repr(s.id) for s in ends)
        raise PlanError(
            f"the plan must end in one step, whose output is the result; it ends in {len(ends)}: {names}"
        )


def joined(steps: Sequence[PlanStep], join_id: str = "combine") -> list[PlanStep]:
    """The plan with one final step: several ends are put together by a `combine` step. The
    final step is never optional: its output is the task's result."""
    ends = finals(steps)
    if len(ends) == 1 and ends[0].optional:
        return [replace(s, optional=False) if s is ends[0] else s for s in steps]
    if len(ends) <= 1:
        return list(steps)
    taken = {s.id for s in steps}
    name, n = join_id, 1
    while name in taken:
        n += 1
        name = f"{join_id}_{n}"
    return [*steps, PlanStep("combine", {}, name, tuple(s.id for s in ends))]


def from_dicts(raw: Sequence[Any]) -> list[PlanStep]:
    """Steps from JSON (a model's answer); a malformed entry is a PlanError."""
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PlanError(f"step {i + 1} is not an object")
        deps = item.get("depends_on") or []
        params = item.get("params") if item.get("params") is not None else {}
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise PlanError(f"step {item.get('id', i + 1)!r}: depends_on must be a list of step ids")
        if not isinstance(params, dict):
            raise PlanError(f"step {item.get('id', i + 1)!r}: params must be an object")
        steps.append(
            PlanStep(
                str(item.get("type") or item.get("tool") or ""),
                params,
                str(item.get("id") or ""),
                tuple(deps),
                bool(item.get("optional", False)),
            )
        )
    return steps
