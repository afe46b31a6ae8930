"""The configured provider. The SDK modules load only for the provider in use, so
`agent_common.llm` works without the `llm` extra when LLM_PROVIDER=offline."""

from __future__ import annotations

from agent_common.llm.base import Provider
from agent_common.llm.settings import LLMSettings


def make_provider(settings: LLMSettings) -> Provider | None:
    """The provider for LLM_PROVIDER, or None for `offline` (no model at all)."""
    if settings.llm_provider == "openai":
        from agent_common.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(settings)
    if settings.llm_provider == "anthropic":
        from agent_common.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(settings)
    return None
