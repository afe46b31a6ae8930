// An answer with its citations: each quote, and a link to its page that opens at the quote
// (a text fragment, #:~:text=, which Chromium and Safari scroll to and highlight).

import { el, setHidden, setText } from "./dom.js";

/** The answer step's output when the task ends in one that answered, else null. */
export function answerOutput(task) {
  const steps = task.steps || [];
  const read = new Set(steps.flatMap((s) => s.depends_on || []));
  const last = steps.filter((s) => !read.has(s.id)).at(-1);
  const output = last && last.type === "answer" && last.status === "completed" ? last.output : null;
  return output && typeof output.answer === "string" && Array.isArray(output.citations) ? output : null;
}

/** Only web addresses become links: a javascript: or data: "URL" in an output stays text. */
function webAddress(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed : null;
  } catch {
    return null;
  }
}

// a text directive's own separators must be escaped inside its terms
const fragmentTerm = (words) => encodeURIComponent(words.join(" ")).replace(/-/g, "%2D");

export function quoteLink(url, quote) {
  const words = quote.split(/\s+/).filter(Boolean);
  if (!words.length) return url;
  const text = words.length <= 10 ? fragmentTerm(words)
    : `${fragmentTerm(words.slice(0, 6))},${fragmentTerm(words.slice(-4))}`;
  return `${url}${url.includes("#") ? "" : "#"}:~:text=${text}`;
}

function pageName(parsed, titles) {
  const title = titles.get(parsed.href) || titles.get(parsed.href.replace(/\/$/, ""));
  if (title) return title;
  const path = parsed.pathname === "/" ? "" : parsed.pathname;
  return `${parsed.host}${path}`;
}

export class AnswerView {
  constructor(labelId) {
    this.key = "";
    this.text = el("p", { className: "answer-text" });
    this.list = el("ol", { className: "citations", attrs: { "aria-label": "Sources" } });
    this.root = el("div", {
      className: "task-answer",
      attrs: { role: "group", "aria-labelledby": `${labelId}-answer ${labelId}` },
      children: [el("span", { className: "task-section-label", text: "Answer", attrs: { id: `${labelId}-answer` } }),
        this.text, this.list],
    });
  }

  /** Shows the answer; false (and hidden) when the task has none. */
  update(task) {
    const output = answerOutput(task);
    setHidden(this.root, !output);
    if (!output) return false;
    setText(this.text, output.answer);
    const key = JSON.stringify(output.citations);
    if (key !== this.key) { // rebuilt only when the citations change, so a focused link stays
      this.key = key;
      const titles = new Map((output.sources || []).filter((s) => s && s.url).map((s) => [s.url, s.title]));
      this.list.replaceChildren(...output.citations.map((citation) => this.item(citation, titles)));
    }
    setHidden(this.list, output.citations.length === 0);
    return true;
  }

  item(citation, titles) {
    const quote = String(citation.quote || "");
    const parsed = webAddress(String(citation.url || ""));
    const source = parsed
      ? el("a", { className: "citation-link", text: pageName(parsed, titles),
        attrs: { href: quoteLink(parsed.href, quote), target: "_blank", rel: "noopener noreferrer" } })
      : el("span", { className: "citation-link", text: citation.url ? String(citation.url) : "the task's own text" });
    return el("li", { className: "citation", children: [el("blockquote", { text: quote }), source] });
  }
}
