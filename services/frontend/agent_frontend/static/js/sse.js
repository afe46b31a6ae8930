// An incremental Server-Sent Events parser (the WHATWG event-stream format): feed it text
// as it arrives, get back the complete events. fetch() + a reader is used instead of
// EventSource because the chat stream is a POST.

export class SseParser {
  constructor() {
    this.buffer = "";
  }

  /** Text in, complete events out: [{event, data}]. */
  push(text) {
    this.buffer += text;
    const events = [];
    // an event ends at a blank line; any of \r\n, \n, \r ends a line
    const blocks = this.buffer.split(/\r\n\r\n|\n\n|\r\r/);
    this.buffer = blocks.pop();
    for (const block of blocks) {
      const event = parseBlock(block);
      if (event) events.push(event);
    }
    return events;
  }

  /** What is left when the stream ends (a last event without its blank line). */
  flush() {
    const rest = this.buffer;
    this.buffer = "";
    const event = rest.trim() ? parseBlock(rest) : null;
    return event ? [event] : [];
  }
}

function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length && event === "message") return null;
  return { event, data: data.join("\n") };
}
