// The page-wide alert: shown while a background job (session, history, task polling)
// is failing, retried with backoff, hidden as soon as every job works again.

import { byId, setHidden, setText } from "./dom.js";

const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
const problems = new Map(); // key -> {message, retry, attempt, timer}

let box;
let text;

export function initProblems() {
  box = byId("alert");
  text = byId("alert-text");
  byId("alert-retry").addEventListener("click", retryAll);
}

/** `retry` runs after a backoff; it calls reportProblem or clearProblem again itself. */
export function reportProblem(key, message, retry) {
  const previous = problems.get(key);
  if (previous) clearTimeout(previous.timer);
  const attempt = previous ? previous.attempt + 1 : 0;
  const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  const timer = retry ? setTimeout(retry, delay) : null;
  problems.set(key, { message, retry, attempt, timer });
  render();
}

export function clearProblem(key) {
  const problem = problems.get(key);
  if (!problem) return;
  clearTimeout(problem.timer);
  problems.delete(key);
  render();
}

function retryAll() {
  for (const problem of problems.values()) {
    clearTimeout(problem.timer);
    if (problem.retry) problem.retry();
  }
}

function render() {
  const latest = [...problems.values()].pop();
  if (!latest) {
    setHidden(box, true);
    return;
  }
  const retrying = latest.retry ? " Retrying automatically." : "";
  setText(text, `${latest.message}${retrying}`);
  setHidden(box, false);
}
