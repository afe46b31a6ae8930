"""The configured provider. The SDK modules load only for the provider in use, so
`agent_common.llm` works without the `llm` extra when LLM_PROVIDER=offline."""

from __future__ import annotations

import logging

from agent_common.llm.base import Provider
from agent_common.llm.settings import LLMSettings

log = logging.getLogger("agent.llm")


def make_provider(settings: LLMSettings) -> Provider | None:
    """The provider for LLM_PROVIDER, or None for `offline` (no model at all)."""
    _warn_without_key(settings)
    if settings.llm_provider == "openai":
        from agent_common.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(settings)
    if settings.llm_provider == "anthropic":
        from agent_common.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(settings)
    return None


_warned: set[str] = set()


def _warn_without_key(settings: LLMSettings) -> None:
    """A missing key is legal (local servers need none) but usually a mistake: say so once."""
    message = None
    if (
        settings.llm_provider == "openai"
        and not settings.openai_api_key.get_secret_value()
        and not settings.llm_base_url
    ):
        message = "LLM_PROVIDER=openai without OPENAI_API_KEY or LLM_BASE_URL: calls will be refused"
    if settings.llm_provider == "anthropic" and not settings.anthropic_api_key.get_secret_value():
        message = "LLM_PROVIDER=anthropic without ANTHROPIC_API_KEY: calls will be refused"
    if message and message not in _warned:
        _warned.add(message)
        log.warning(message)
