// A task's plan as a graph: branches that run in parallel side by side, the steps that join
// them below, each step with its status and timing. A step is a <details> whose summary
// names it ("Fetch page, example.com/a, completed, 120 ms"), so Tab reaches every step and
// Enter opens its details; nodes are kept by step id, so polling never closes one.

import { el, setHidden, setText } from "./dom.js";

export const STEP_NAMES = {
  fetch_url: "Fetch page", extract_text: "Extract text", summarize: "Summarize", answer: "Answer",
  compare: "Compare", combine: "Combine", replan: "Re-plan", echo: "Echo",
};

/**
 * The plan's segments (chains of steps: a root or a join, then each step that alone reads the
 * one before and is its only reader) in rows: a segment sits one row below the lowest of the
 * segments it reads. Segments of one row are independent and run side by side.
 */
export function layout(steps) {
  const ordered = topological(steps);
  const readers = new Map();
  for (const step of ordered) {
    for (const dep of step.depends_on || []) readers.set(dep, (readers.get(dep) || 0) + 1);
  }
  const segmentOf = new Map();
  const segments = [];
  for (const step of ordered) {
    const deps = (step.depends_on || []).filter((id) => segmentOf.has(id));
    const before = deps.length === 1 ? segmentOf.get(deps[0]) : null;
    if (before && readers.get(deps[0]) === 1 && before.steps.at(-1).id === deps[0]) {
      before.steps.push(step);
      segmentOf.set(step.id, before);
      continue;
    }
    const after = [...new Set(deps.map((id) => segmentOf.get(id)))];
    const segment = { steps: [step], after, row: after.length ? 1 + Math.max(...after.map((s) => s.row)) : 0 };
    segments.push(segment);
    segmentOf.set(step.id, segment);
  }
  const rows = [];
  for (const segment of segments) (rows[segment.row] ||= []).push(segment);
  let number = 0;
  for (const row of rows) for (const segment of row || []) segment.number = ++number;
  return rows.filter(Boolean);
}

/** Dependencies first; otherwise the API's order (a step naming an unknown id is a root). */
function topological(steps) {
  const ids = new Set(steps.map((s) => s.id));
  const done = new Set();
  const out = [];
  let left = [...steps];
  while (left.length) {
    const ready = left.filter((s) => (s.depends_on || []).every((d) => done.has(d) || !ids.has(d)));
    const next = ready.length ? ready : left.slice(0, 1); // a cycle cannot stop the page
    for (const step of next) {
      done.add(step.id);
      out.push(step);
    }
    left = left.filter((s) => !done.has(s.id));
  }
  return out;
}

export function duration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function clock(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** What the step works on, in a few words: the page's address, the question. */
function target(step) {
  const params = step.params || {};
  if (typeof params.url === "string") {
    try {
      const url = new URL(params.url);
      const path = url.pathname === "/" ? "" : url.pathname;
      return `${url.host}${path.length > 28 ? `${path.slice(0, 27)}…` : path}`;
    } catch {
      return params.url.slice(0, 40);
    }
  }
  if (typeof params.question === "string") return `“${params.question.length > 60 ? `${params.question.slice(0, 59)}…` : params.question}”`;
  return "";
}

/** What shows beside a step's name: its time when done, else its state in words. */
function stateText(step, taskFinished) {
  const took = duration(step.duration_ms);
  switch (step.status) {
    case "completed":
      return took;
    case "processing":
      if (taskFinished || !step.started_at) return "running";
      return `running ${duration(Date.now() - new Date(step.started_at).getTime())}`;
    case "failed":
      return took ? `failed after ${took}` : "failed";
    case "queued":
      return (step.depends_on || []).length ? "waiting" : "queued";
    default:
      return step.status; // cancelled, skipped
  }
}

/** The few output fields worth a line: what was read, how much, by which method. */
function outputFacts(output) {
  if (!output || typeof output !== "object") return [];
  const facts = [];
  if (Number.isFinite(output.status_code)) facts.push(`HTTP ${output.status_code}`);
  if (Number.isFinite(output.bytes)) facts.push(`${output.bytes.toLocaleString()} bytes`);
  if (typeof output.title === "string" && output.title) facts.push(`“${output.title}”`);
  if (Number.isFinite(output.word_count)) facts.push(`${output.word_count.toLocaleString()} words`);
  if (typeof output.method === "string") facts.push(`method: ${output.method}${output.model ? `, ${output.model}` : ""}`);
  if (Array.isArray(output.citations)) facts.push(`${output.citations.length} citation${output.citations.length === 1 ? "" : "s"}`);
  if (typeof output.llm_error === "string") facts.push(`model not used: ${output.llm_error}`);
  return facts;
}

/** One step: a <details> in a branch list, updated in place. */
class StepNode {
  constructor(step) {
    this.name = el("span", { className: "step-name" });
    this.target = el("span", { className: "step-target" });
    this.state = el("span", { className: "step-state" });
    this.gap = document.createTextNode(" ");
    this.summary = el("summary", { children: [this.name, this.gap, this.target, this.state] });
    this.after = el("p", { className: "step-after" });
    this.when = el("p");
    this.facts = el("p");
    this.error = el("p", { className: "step-error" });
    this.missing = el("p");
    this.details = el("details", {
      children: [this.summary, el("div", { className: "step-details",
        children: [this.after, this.when, this.facts, this.error, this.missing] })],
    });
    this.root = el("li", { attrs: { "data-step-id": step.id }, children: [this.details] });
  }

  update(step, taskFinished, afterText) {
    // a step still running in an ended task stops on its own; polling has stopped, so show it still
    const status = taskFinished && step.status === "processing" ? "queued" : step.status;
    this.root.className = `step step-${status}${step.optional ? " step-optional" : ""}`;
    setText(this.name, STEP_NAMES[step.type] || step.type);
    setText(this.target, target(step));
    setHidden(this.target, !this.target.textContent);
    this.gap.data = this.target.textContent ? " " : "";
    const shown = stateText(step, taskFinished);
    setText(this.state, shown ? `, ${shown}` : "");
    // what a screen reader says: the visible words, with the status always among them
    const said = [`${this.name.textContent}${this.gap.data}${this.target.textContent}`,
      `${step.status}${step.optional ? " (optional)" : ""}`,
      step.status === "completed" || step.status === "processing" ? shown.replace(/^running ?/, "") : ""];
    const name = said.filter(Boolean).join(", ");
    if (this.summary.getAttribute("aria-label") !== name) this.summary.setAttribute("aria-label", name);
    setText(this.after, afterText);
    setHidden(this.after, !afterText);
    const when = [step.started_at && `Started ${clock(step.started_at)}`,
      step.finished_at && `finished ${clock(step.finished_at)}`,
      step.attempts > 1 && `${step.attempts} attempts`].filter(Boolean).join(", ");
    setText(this.when, when || "Not started yet.");
    const facts = outputFacts(step.output);
    setText(this.facts, facts.join(" · "));
    setHidden(this.facts, facts.length === 0);
    // a failed step's error in red; why a step was skipped or cancelled as a plain note
    const failed = step.status === "failed";
    this.error.className = failed ? "step-error" : "step-note";
    setText(this.error, step.error ? `${failed ? "Error: " : ""}${step.error}` : "");
    setHidden(this.error, !step.error);
    const missing = (step.output && Array.isArray(step.output.missing)) ? step.output.missing : [];
    setText(this.missing, missing.length ? `Went on without: ${missing.map((m) => `${m.step_id} (${m.error})`).join("; ")}` : "");
    setHidden(this.missing, missing.length === 0);
  }
}

function names(segments) {
  const numbers = segments.map((s) => s.number).sort((a, b) => a - b);
  if (numbers.length === 1) return `branch ${numbers[0]}`;
  return `branches ${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}

/** The graph of one task's plan; update(task) changes only what changed. */
export class PlanView {
  constructor(labelId) {
    this.labelId = labelId;
    this.nodes = new Map(); // step id -> StepNode
    this.shape = "";
    this.source = el("p", { className: "plan-source" });
    this.note = el("p", { className: "plan-note" });
    this.rows = el("div", { className: "plan-rows" });
    this.root = el("div", {
      className: "plan",
      attrs: { role: "group", "aria-labelledby": `${labelId}-plan ${labelId}` },
      children: [el("span", { className: "task-section-label", text: "Plan", attrs: { id: `${labelId}-plan` } }),
        this.source, this.note, this.rows],
    });
  }

  update(task) {
    const steps = task.steps || [];
    setHidden(this.root, steps.length === 0);
    const finished = ["completed", "failed", "cancelled"].includes(task.status);
    setText(this.source, planSource(task));
    setHidden(this.source, !this.source.textContent);
    setText(this.note, task.plan_note || "");
    setHidden(this.note, !task.plan_note);
    const rows = layout(steps);
    const shape = rows.map((row) => row.map((s) => s.steps.map((x) => x.id).join(">")).join("|")).join("/");
    if (shape !== this.shape) this.rebuild(rows);
    this.shape = shape;
    for (const row of rows) {
      for (const segment of row) {
        segment.steps.forEach((step, index) => {
          const after = index === 0 && segment.after.length > 1 ? `Reads ${names(segment.after)}.` : "";
          this.node(step).update(step, finished, after);
        });
      }
    }
  }

  node(step) {
    let node = this.nodes.get(step.id);
    if (!node) {
      node = new StepNode(step);
      this.nodes.set(step.id, node);
    }
    return node;
  }

  /** New rows and branch lists around the same step nodes (a re-plan added steps). */
  rebuild(rows) {
    const single = rows.length === 1 && rows[0].length === 1;
    const built = rows.map((row, r) => el("div", {
      className: `plan-row${r > 0 ? " plan-row-join" : ""}`,
      children: row.map((segment) => {
        const label = single ? "Steps" : segmentLabel(segment, row.length);
        return el("ol", {
          className: "steps plan-branch",
          attrs: { "aria-label": label },
          children: segment.steps.map((step) => this.node(step).root),
        });
      }),
    }));
    this.rows.replaceChildren(...built);
  }
}

function segmentLabel(segment, inRow) {
  if (segment.after.length > 1) return `Step ${segment.number}, after ${names(segment.after)}`;
  if (segment.after.length === 1) return `Branch ${segment.number}, after ${names(segment.after)}`;
  return inRow > 1 ? `Branch ${segment.number}` : "Steps";
}

function planSource(task) {
  if (task.plan_source === "llm") {
    const plan = task.plan || {};
    const parts = [`Planned by the model${plan.model ? ` ${plan.model}` : ""}`];
    const tokens = (plan.prompt_tokens || 0) + (plan.completion_tokens || 0);
    if (tokens) parts.push(`${tokens.toLocaleString()} tokens`);
    if (plan.cost_usd !== null && plan.cost_usd !== undefined) parts.push(`$${Number(plan.cost_usd).toFixed(4)}`);
    if (Number.isFinite(plan.latency_ms)) parts.push(duration(plan.latency_ms));
    if (plan.replanned_steps) parts.push(`${plan.replanned_steps} step${plan.replanned_steps === 1 ? "" : "s"} added after the branches`);
    return parts.join(" · ");
  }
  return task.plan_source === "rules" ? "Planned by the rules" : "";
}
