"""Fixtures for the chat suites: the stack's own (offline) chat service, and extra chat
processes configured for the OpenAI and Anthropic stand-ins, each a real process with
its own environment, talking to the stand-ins through the official SDKs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from agent_common.devstack import ServiceProcess, Stack, free_port
from tests.conftest import LLM_ENV
from tests.support.llm_standins import AnthropicStandIn, OpenAIStandIn, StandIn


@dataclass
class LLMChat:
    """A chat service process answering with `provider` through `standin`."""

    provider: str
    standin: StandIn
    process: ServiceProcess
    url: str


def _start_chat(stack: Stack, name: str, env: dict[str, str]) -> tuple[ServiceProcess, str]:
    port = free_port()
    proc = ServiceProcess(
        name,
        "agent_chat",
        {**stack.env(), "PORT": str(port), **env},
        ready_url=f"http://127.0.0.1:{port}/ready",
        log_dir=stack.log_dir,
    )
    stack.services[name] = proc  # stopped with the stack
    proc.start()
    proc.wait_ready()
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def openai_chat(stack: Stack, openai_standin: OpenAIStandIn) -> LLMChat:
    proc, url = _start_chat(
        stack,
        "chat-openai",
        {**LLM_ENV, "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{openai_standin.origin}/v1"},
    )
    return LLMChat("openai", openai_standin, proc, url)


@pytest.fixture(scope="session")
def anthropic_chat(stack: Stack, anthropic_standin: AnthropicStandIn) -> LLMChat:
    proc, url = _start_chat(
        stack,
        "chat-anthropic",
        {**LLM_ENV, "LLM_PROVIDER": "anthropic", "LLM_BASE_URL": anthropic_standin.origin},
    )
    return LLMChat("anthropic", anthropic_standin, proc, url)


@pytest.fixture(params=["openai", "anthropic"])
def llm_chat(request: pytest.FixtureRequest) -> Iterator[LLMChat]:
    """Each provider in turn, its stand-in reset before and after the test."""
    chat: LLMChat = request.getfixturevalue(f"{request.param}_chat")
    chat.standin.reset()
    yield chat
    chat.standin.reset()


@pytest.fixture(scope="session")
async def chat(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's chat service (LLM_PROVIDER=offline, the default)."""
    async with httpx.AsyncClient(base_url=stack.url("chat"), timeout=30) as client:
        yield client
