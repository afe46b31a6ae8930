"""The API gateway (port 8080): sessions, per-session rate limits and a streaming reverse
proxy in front of the chat service and the orchestrator."""
