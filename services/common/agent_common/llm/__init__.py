"""Large language models behind one small interface (chat service and worker).

`make_provider(LLMSettings())` gives the provider LLM_PROVIDER names (None for offline);
`Provider.complete()` and `Provider.stream()` take an `LLMRequest`; failures are
`LLMError`s that say what happened and which HTTP status fits (502/503/504)."""

from agent_common.llm.base import Provider, StreamItem
from agent_common.llm.errors import LLMError
from agent_common.llm.factory import make_provider
from agent_common.llm.pricing import cost_usd
from agent_common.llm.settings import LLMSettings, ModelPrice
from agent_common.llm.types import (
    Completion,
    LLMRequest,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = [
    "Completion",
    "LLMError",
    "LLMRequest",
    "LLMSettings",
    "Message",
    "ModelPrice",
    "Provider",
    "StreamItem",
    "TextDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "cost_usd",
    "make_provider",
]
