// The tools the agent can plan with (GET /api/tools), listed under the task form so a person
// sees what a description can ask for.

import { listTools } from "./api.js";
import { byId, el, setHidden, setText } from "./dom.js";
import { STEP_NAMES } from "./plan.js";

export function initTools() {
  const box = byId("tools");
  const count = byId("tools-count");
  const list = byId("tools-list");

  async function load() {
    try {
      const tools = await listTools();
      list.replaceChildren(...tools.flatMap((tool) => [
        el("dt", { children: [el("span", { className: "tool-name", text: STEP_NAMES[tool.name] || tool.name }),
          el("code", { text: tool.name })] }),
        el("dd", { text: tool.description }),
      ]));
      setText(count, `${tools.length}`);
      setHidden(box, tools.length === 0);
    } catch {
      setHidden(box, true); // the form works without the list; the alert tells of a down server
    }
  }

  return { load };
}
