// The task form and the "Tasks" region: newest first, each task's plan as a graph with live
// step progress (polling GET /api/tasks about once a second while any task is unfinished),
// and an answer with its citations as links.

import { AnswerView } from "./answer.js";
import { ApiError, cancelTask, createTask, listTasks, messageOf } from "./api.js";
import { byId, el, setHidden, setText, shortTime } from "./dom.js";
import { PlanView } from "./plan.js";
import { clearProblem, reportProblem } from "./problems.js";

const POLL_MS = 1000;
const HIDDEN_POLL_MS = 5000; // a background tab asks less often
const FINISHED = new Set(["completed", "failed", "cancelled"]);
const EMPTY = "No tasks yet. Submit one, or ask in the chat: “summarize https://…”.";

export function initTasks({ announce }) {
  const list = byId("task-list");
  const status = byId("tasks-status");
  const cards = new Map(); // task_id -> Card
  let loaded = false;
  let timer = null;
  let inFlight = false;
  let again = false;

  // ---- polling ------------------------------------------------------------------------------

  async function refresh() {
    clearTimeout(timer);
    timer = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      render(await listTasks());
      clearProblem("tasks");
      schedule();
    } catch (error) {
      showUnavailable();
      reportProblem("tasks", messageOf(error), refresh);
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  function showUnavailable() {
    if (!loaded) setText(status, "Tasks could not be loaded.");
  }

  function schedule() {
    const running = [...cards.values()].some((card) => !FINISHED.has(card.task.status));
    if (running && !timer) timer = setTimeout(refresh, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && loaded) refresh();
  });

  // ---- rendering ------------------------------------------------------------------------------

  function render(tasks) {
    const seen = new Set();
    tasks.forEach((task, index) => {
      seen.add(task.task_id);
      let card = cards.get(task.task_id);
      if (!card) {
        card = new Card(task, onCancel);
        cards.set(task.task_id, card);
      } else if (card.task.status !== task.status) {
        announce(`Task “${task.title}” is ${task.status}.`);
      }
      card.update(task);
      // move only what is out of place: moving a node would take focus off its button
      if (list.children[index] !== card.root) list.insertBefore(card.root, list.children[index] || null);
    });
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    loaded = true;
    setText(status, EMPTY);
    setHidden(status, cards.size > 0);
  }

  async function onCancel(card) {
    card.cancel.disabled = true;
    try {
      card.update(await cancelTask(card.task.task_id));
      announce(`Task “${card.task.title}” is cancelled.`);
    } catch (error) {
      // 409: it finished meanwhile; the refresh below shows how
      if (!(error instanceof ApiError && error.status === 409)) announce(`Not cancelled: ${messageOf(error)}`);
    } finally {
      card.cancel.disabled = false;
      if (card.cancel.hidden) card.title.focus(); // the button is gone; keep focus nearby
      refresh();
    }
  }

  // ---- the form -----------------------------------------------------------------------------

  const form = byId("task-form");
  const title = byId("task-title");
  const description = byId("task-description");
  const submit = byId("submit-task");
  const formError = byId("task-form-error");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    title.value = title.value.trim();
    description.value = description.value.trim();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    setHidden(formError, true);
    try {
      const created = await createTask(title.value, description.value);
      const now = new Date().toISOString();
      render([{ ...created, title: title.value, description: description.value, steps: [],
        result: null, error: null, created_at: now, updated_at: now },
      ...[...cards.values()].map((card) => card.task).filter((t) => t.task_id !== created.task_id)]);
      announce(`Task “${title.value}” submitted.`);
      form.reset();
      refresh();
    } catch (error) {
      setText(formError, messageOf(error));
      setHidden(formError, false);
    } finally {
      submit.disabled = false;
    }
  });

  return { refresh, showUnavailable };
}

/** One task's card; update() changes only what changed. */
class Card {
  constructor(task, onCancel) {
    const id = `task-${task.task_id}`;
    this.task = task;
    this.title = el("h3", { className: "task-title", attrs: { id: `${id}-title`, tabindex: "-1" } });
    this.status = el("span", { className: "status" });
    this.description = el("p", { className: "task-description" });
    this.plan = new PlanView(`${id}-title`);
    this.answer = new AnswerView(`${id}-title`);
    this.resultText = el("p");
    // a long result scrolls inside its box, so the box takes focus for keyboard scrolling
    this.result = el("div", {
      className: "task-result",
      attrs: { tabindex: "0", role: "group", "aria-labelledby": `${id}-result ${id}-title` },
      children: [
        el("span", { className: "task-section-label", text: "Result", attrs: { id: `${id}-result` } }),
        this.resultText,
      ],
    });
    this.errorText = el("p");
    this.error = el("div", {
      className: "task-error",
      children: [el("span", { className: "task-section-label", text: "Error" }), this.errorText],
    });
    this.time = el("time");
    this.cancel = el("button", {
      className: "button button-quiet button-small",
      text: "Cancel",
      attrs: { type: "button", "aria-describedby": `${id}-title` },
    });
    this.cancel.addEventListener("click", () => onCancel(this));
    this.root = el("li", {
      className: "task",
      attrs: { "aria-labelledby": `${id}-title`, "data-task-id": task.task_id },
      children: [
        el("div", { className: "task-head", children: [this.title, this.status] }),
        this.description, this.plan.root, this.answer.root, this.result, this.error,
        el("div", { className: "task-meta", children: [this.time, this.cancel] }),
      ],
    });
  }

  update(task) {
    this.task = task;
    setText(this.title, task.title);
    setText(this.status, task.status);
    this.status.className = `status status-${task.status}`;
    setText(this.description, task.description);
    this.plan.update(task);
    // an answer shows as text with its sources as links; the result repeats it as plain text
    const answered = this.answer.update(task);
    setText(this.resultText, task.result);
    setHidden(this.result, answered || !(task.status === "completed" && task.result));
    setText(this.errorText, task.error);
    setHidden(this.error, !task.error);
    this.time.dateTime = task.created_at;
    setText(this.time, `Submitted ${shortTime(task.created_at)}`);
    setHidden(this.cancel, FINISHED.has(task.status));
  }
}
