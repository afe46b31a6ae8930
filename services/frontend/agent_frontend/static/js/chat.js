// The chat panel: history on load, Enter to send, the reply streaming into its bubble.

import { chatHistory, messageOf, sendChat } from "./api.js";
import { byId, el, setHidden, setText } from "./dom.js";
import { clearProblem, reportProblem } from "./problems.js";

const ROLE_LABELS = { user: "You", assistant: "Agent" };
const EMPTY = "No messages yet. Say hello, or ask it to summarize a link.";

/** "gpt-4o-mini · 1,204 tokens (1,180 in, 24 out)"; the model alone when it counted none. */
export function usageLine({ model, prompt_tokens: tokensIn, completion_tokens: tokensOut }) {
  if (!model) return "";
  const inCount = tokensIn || 0;
  const outCount = tokensOut || 0;
  if (!inCount && !outCount) return model;
  const n = (value) => value.toLocaleString("en");
  return `${model} · ${n(inCount + outCount)} tokens (${n(inCount)} in, ${n(outCount)} out)`;
}

function addUsage(item, accounting) {
  const text = usageLine(accounting);
  if (text) item.append(el("span", { className: "message-usage", text }));
}

export function initChat({ onReply }) {
  const form = byId("chat-form");
  const box = byId("message");
  const send = byId("send");
  const log = byId("chat-log");
  const list = byId("messages");
  const status = byId("chat-status");
  let busy = false;

  function addMessage(role, content, accounting = null) {
    const body = el("span", { className: "message-text", text: content });
    const item = el("li", {
      className: `message message-${role}`,
      children: [el("span", { className: "message-role", text: ROLE_LABELS[role] || role }), body],
    });
    if (accounting) addUsage(item, accounting);
    const stick = nearBottom();
    list.append(item);
    setHidden(status, true);
    if (stick) scrollToEnd();
    return { item, body };
  }

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const scrollToEnd = () => {
    log.scrollTop = log.scrollHeight;
  };

  // Sending waits for the first history load (done or failed, or start-up failed before
  // it), so that history never lands on top of a conversation already under way.
  let firstLoadDone;
  const firstLoad = new Promise((resolve) => {
    firstLoadDone = resolve;
  });
  let historyWanted = false;

  async function loadHistory() {
    try {
      await fetchHistory();
    } finally {
      firstLoadDone();
    }
  }

  async function fetchHistory() {
    try {
      const history = await chatHistory();
      clearProblem("history");
      if (busy) {
        historyWanted = true; // a reply is streaming: show the stored history after it
        return;
      }
      list.replaceChildren();
      for (const entry of history) {
        if (entry.role === "user" || entry.role === "assistant") {
          addMessage(entry.role, entry.content, entry.role === "assistant" ? entry : null);
        }
      }
      setText(status, EMPTY);
      setHidden(status, list.children.length > 0);
      scrollToEnd();
    } catch (error) {
      showUnavailable();
      reportProblem("history", messageOf(error), loadHistory);
    }
  }

  function showUnavailable() {
    setText(status, "The conversation could not be loaded.");
    setHidden(status, list.children.length > 0);
    firstLoadDone();
  }

  async function submit() {
    const text = box.value.trim();
    if (!text || busy) return;
    busy = true;
    send.disabled = true;
    await firstLoad;
    box.value = "";
    const mine = addMessage("user", text);
    const reply = addMessage("assistant", "");
    reply.item.setAttribute("aria-busy", "true");
    const streamed = document.createTextNode("");
    reply.body.append(streamed);
    try {
      const answer = await sendChat(text, {
        onDelta: (delta) => {
          const stick = nearBottom();
          streamed.appendData(delta);
          if (stick) scrollToEnd();
        },
        onTool: onReply, // a task may have started: show it now, not after the reply
      });
      // before aria-busy clears, so the live log reads the answer and its line once
      addUsage(reply.item, { model: answer.model, ...(answer.usage || {}) });
    } catch (error) {
      if (streamed.data) {
        addMessage("error", `The reply broke off: ${messageOf(error)}`);
      } else {
        // nothing came back: take the message back into the box to send again
        reply.item.remove();
        mine.item.remove();
        if (!box.value) box.value = text;
        addMessage("error", `Not sent: ${messageOf(error)} Your message is back in the box.`);
      }
    } finally {
      reply.item.setAttribute("aria-busy", "false");
      busy = false;
      send.disabled = false;
      onReply(); // the assistant may have started a task
      if (historyWanted) {
        historyWanted = false;
        loadHistory();
      }
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  box.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; never while an input method is composing
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  return { loadHistory, showUnavailable };
}
