"""The chat service: answers messages with the configured LLM, streams, starts tasks."""
