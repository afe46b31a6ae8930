"""The chat service's limits (each an environment variable). The LLM knobs (provider,
model, timeouts, max tokens, prices) come from `agent_common.llm.LLMSettings`."""

from __future__ import annotations

from pydantic import Field

from agent_common.llm import LLMSettings

SYSTEM_PROMPT = (
    "You are the assistant of agent-system, a service that runs tasks for the user. "
    "To summarize a web page or a long text, start a task with the create_task tool (put the URL or the "
    "text in the description) and tell the user its task id; its progress shows under Tasks in the page. "
    "To report on a task, call get_task with its id. Answer briefly and plainly."
)


class ChatSettings(LLMSettings):
    service_name: str = Field("chat", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"
    port: int = 3001

    chat_message_max_chars: int = Field(12_000, ge=1)
    # the system prompt plus this many of the latest messages (the new one included) go to the model
    chat_context_messages: int = Field(5, ge=1)
    chat_system_prompt: str = SYSTEM_PROMPT
    chat_history_default: int = Field(100, ge=1)
    chat_history_max: int = Field(500, ge=1)
    # model calls per answer that may run tools before it must answer in words
    chat_max_tool_rounds: int = Field(3, ge=1)
    chat_tool_timeout_s: float = Field(10.0, gt=0)  # each orchestrator call
    chat_tool_result_max_chars: int = Field(4_000, ge=100)  # what a tool result may add to the context
    chat_orchestrator_max_connections: int = Field(50, ge=1)
    # offline: a message at least this long (in words) is pasted text to summarize
    chat_offline_summary_min_words: int = Field(60, ge=1)
    chat_summary_min_sentences: int = Field(3, ge=1)
    chat_summary_max_sentences: int = Field(5, ge=1)
    reading_words_per_minute: int = Field(200, gt=0)
