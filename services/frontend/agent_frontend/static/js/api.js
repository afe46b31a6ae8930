// The /api client: JSON in and out, errors as ApiError, and the anonymous session.
// The session cookie is HttpOnly; the page only remembers the user id that came with it,
// to ask for that user's chat history.

import { SseParser } from "./sse.js";

const USER_KEY = "agent.user_id";

export class ApiError extends Error {
  /** status 0 means the server could not be reached at all. */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** What to tell the person about a failed call. */
export function messageOf(error) {
  if (error instanceof ApiError) return error.message;
  return "Something went wrong. Try again.";
}

// ---- session ---------------------------------------------------------------------------------

let generation = 0; // bumped whenever a new session replaces the old one
let sessionInFlight = null;

export function currentUserId() {
  try {
    return localStorage.getItem(USER_KEY);
  } catch {
    return memoryUserId;
  }
}

let memoryUserId = null; // where storage is refused (some private modes)

function rememberUserId(userId) {
  memoryUserId = userId;
  try {
    localStorage.setItem(USER_KEY, userId);
  } catch {
    /* the in-memory copy is enough for this page load */
  }
}

/** A new anonymous session; concurrent callers share one request. */
export function createSession() {
  if (!sessionInFlight) {
    sessionInFlight = (async () => {
      const response = await rawFetch("/api/session", { method: "POST" });
      if (!response.ok) throw await errorFrom(response);
      const body = await response.json();
      rememberUserId(body.user_id);
      generation += 1;
      return body.user_id;
    })().finally(() => {
      sessionInFlight = null;
    });
  }
  return sessionInFlight;
}

/** The user id of the session, making one when there is none. */
export async function ensureSession() {
  return currentUserId() || (await sessionUser()) || createSession();
}

/** Who the session cookie belongs to (GET /api/session), or null when that is unknown. */
async function sessionUser() {
  const response = await rawFetch("/api/session");
  if (!response.ok) return null;
  const body = await response.json();
  if (!body.user_id) return null;
  rememberUserId(body.user_id);
  return body.user_id;
}

// ---- requests ----------------------------------------------------------------------------------

async function rawFetch(path, options = {}) {
  try {
    return await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Can't reach the server. Check that it is running, or your connection.");
  }
}

/** `path` may be a function, re-read on the retry after a new session (the user id changes). */
async function send(path, options = {}) {
  const seen = generation;
  const url = () => (typeof path === "function" ? path() : path);
  let response = await rawFetch(url(), options);
  if (response.status === 401) {
    // no or expired session: make one (unless another request just did), then retry once
    if (seen === generation) await createSession();
    response = await rawFetch(url(), options);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function errorFrom(response) {
  let detail = "";
  try {
    detail = (await response.json()).detail;
  } catch {
    /* not JSON: a proxy's error page, say */
  }
  return new ApiError(response.status, describe(response.status, detail));
}

function describe(status, detail) {
  if (Array.isArray(detail)) {
    // validation errors: [{loc, msg}]
    return detail.map((d) => `${(d.loc || []).slice(-1)[0] || "input"}: ${d.msg}`).join("; ");
  }
  if (typeof detail === "string" && detail) return sentence(detail);
  if (status === 429) return "Too many requests. Wait a moment and try again.";
  if (status >= 500) return "The server is having trouble. Try again shortly.";
  return `The request failed (HTTP ${status}).`;
}

function sentence(text) {
  const first = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

const json = (body) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

// ---- chat ----------------------------------------------------------------------------------------

export async function chatHistory() {
  await ensureSession();
  try {
    const response = await send(() => `/api/chat/history/${encodeURIComponent(currentUserId())}`);
    return await response.json();
  } catch (error) {
    // the remembered id is not the cookie's user (a new session in another tab, say)
    if (error instanceof ApiError && error.status === 404) {
      if ((await sessionUser()) === null) await createSession();
      return (await send(() => `/api/chat/history/${encodeURIComponent(currentUserId())}`)).json();
    }
    throw error;
  }
}

/**
 * Send a message; the reply streams into onDelta(text), and onTool(data) hears of each tool
 * the assistant ran (a task started, say). Resolves with the final event ({chat_id, usage,
 * ...}). The chat service's stream: `event: delta` {"text"}, `event: tool` {...},
 * `event: done` {...}, `event: error` {"status","detail"}; a plain JSON answer
 * ({"response"}) works too.
 */
export async function sendChat(message, { onDelta, onTool = () => {} }) {
  await ensureSession();
  const options = json({ message });
  options.headers.accept = "text/event-stream";
  const response = await send("/api/chat", options);
  if (!(response.headers.get("content-type") || "").includes("text/event-stream")) {
    const body = await response.json();
    onDelta(body.response || "");
    return body;
  }
  return readStream(response, onDelta, onTool);
}

async function readStream(response, onDelta, onTool) {
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let final = null;
  const handle = (event) => {
    if (event.data === "[DONE]") return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = event.data;
    }
    if (event.event === "error") {
      const status = (data && data.status) || 502;
      throw new ApiError(status, describe(status, data && data.detail ? data.detail : data));
    }
    if (event.event === "tool") {
      onTool(data);
      return;
    }
    if (event.event === "done" || event.event === "end") {
      final = typeof data === "object" && data ? data : {};
      return;
    }
    const delta = typeof data === "string" ? data : (data.delta ?? data.content ?? data.text ?? "");
    if (delta) onDelta(delta);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value).forEach(handle);
  }
  parser.flush().forEach(handle);
  if (!final) throw new ApiError(502, "The reply was cut off before it finished.");
  return final;
}

// ---- tasks ----------------------------------------------------------------------------------------

export async function listTasks() {
  await ensureSession();
  return (await send("/api/tasks")).json();
}

export async function createTask(title, description) {
  await ensureSession();
  return (await send("/api/task", json({ title, description }))).json();
}

export async function cancelTask(taskId) {
  return (await send(`/api/tasks/${encodeURIComponent(taskId)}/cancel`, { method: "POST" })).json();
}

export async function listTools() {
  await ensureSession();
  return (await send("/api/tools")).json();
}
