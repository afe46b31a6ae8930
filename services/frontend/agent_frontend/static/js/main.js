// Start-up: a session first (so that history and tasks do not race to make two), then the
// chat history and the task list.

import { ensureSession, messageOf } from "./api.js";
import { initChat } from "./chat.js";
import { byId } from "./dom.js";
import { clearProblem, initProblems, reportProblem } from "./problems.js";
import { initTasks } from "./tasks.js";
import { initTools } from "./tools.js";

const announcer = byId("announcer");
function announce(text) {
  // a fresh node each time, so that the same words twice are still read twice
  announcer.replaceChildren(document.createTextNode(text));
}

initProblems();
const tasks = initTasks({ announce });
const chat = initChat({ onReply: () => tasks.refresh() });
const tools = initTools();

async function start() {
  try {
    await ensureSession();
    clearProblem("session");
  } catch (error) {
    chat.showUnavailable();
    tasks.showUnavailable();
    reportProblem("session", messageOf(error), start);
    return;
  }
  chat.loadHistory();
  tasks.refresh();
  tools.load();
}

start();
