"""The LLM knobs (environment variables) shared by the chat service and the worker.

The provider, model, base URL and keys are shared settings (`agent_common.settings.Settings`,
services/common/README.md "Settings"); the limits below are added here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agent_common.settings import Settings

# used when LLM_MODEL is empty
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "offline": "offline"}


class ModelPrice(BaseModel):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class LLMSettings(Settings):
    # the longest wait for the provider's next bytes (connect, first token, each chunk)
    llm_timeout_s: float = Field(60.0, gt=0)
    llm_connect_timeout_s: float = Field(5.0, gt=0)
    # the longest a whole streamed answer may take
    llm_stream_max_s: float = Field(300.0, gt=0)
    # retries of a failed call (429, 5xx, connection errors) inside the SDK, with backoff
    llm_max_retries: int = Field(1, ge=0)
    llm_max_tokens: int = Field(1024, ge=1)
    # JSON: {"<model>": {"input": <USD per 1M prompt tokens>, "output": <USD per 1M completion tokens>}}
    llm_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # OpenAI's own API wants max_completion_tokens (newer models refuse max_tokens); most
    # compatible servers (Ollama, llama.cpp, older vLLM) know only max_tokens.
    # auto: max_completion_tokens without LLM_BASE_URL, max_tokens with one.
    llm_max_tokens_field: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    # tokens (prompt and answer) one session may spend on model calls per UTC day, chat and
    # tasks together (agent_common.llm.budget); 0: no budget
    llm_daily_token_budget: int = Field(200_000, ge=0)
    # when Redis (where the budget is counted) cannot be asked: refuse model calls (closed,
    # 503) or let them through uncounted (open)
    llm_budget_on_redis_error: Literal["open", "closed"] = "closed"

    # the worker's summarize step: how much of the text goes to the model, how long its
    # summary may be, and how long to wait before falling back to the extractive summary
    summary_llm_input_max_chars: int = Field(48_000, ge=1_000)
    summary_llm_max_tokens: int = Field(400, ge=16)
    summary_llm_timeout_s: float = Field(60.0, gt=0)

    def model_name(self) -> str:
        return self.llm_model or DEFAULT_MODELS[self.llm_provider]
