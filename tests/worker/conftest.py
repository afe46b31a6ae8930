"""Fixtures for the worker's steps in-process, used by the text tools' tests (answer, compare):
fixture pages as extract_text outputs, step contexts offline or with a model, and the OpenAI
and Anthropic wire stand-ins as that model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepContext, StepInput
from agent_worker.steps import extract_text as extract_step
from agent_worker.steps.summarize import llm_settings
from tests.conftest import MODEL, PRICE
from tests.support.fixture_articles import source_html
from tests.support.llm_standins import API_KEY, AnthropicStandIn, OpenAIStandIn, StandIn


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def page_url(page: str) -> str:
    return f"http://pages.example/{page}.html"


async def extracted(page: str, http: httpx.AsyncClient, step_id: str = "extract") -> StepInput:
    """The extract_text step's output for a fixture page, as a dependency hands it on."""
    fetched = {
        "url": page_url(page),
        "final_url": page_url(page),
        "html": source_html(page),
        "content_type": "text/html",
    }
    ctx = StepContext(WorkerSettings(), http, "task", step_id)
    output = await extract_step.run({}, [StepInput("fetch", "fetch_url", fetched)], ctx)
    return StepInput(step_id, "extract_text", output)


def offline(http: httpx.AsyncClient, **settings: Any) -> StepContext:
    return StepContext(WorkerSettings(llm_provider="offline", **settings), http, "task", "step")


@dataclass
class Model:
    """A model behind a wire stand-in, and the step context that uses it."""

    provider: str
    standin: StandIn
    ctx: StepContext

    def request_text(self) -> str:
        """Everything the step sent the model in its one request."""
        [body] = self.standin.requests
        return json.dumps(body, ensure_ascii=False)


@pytest.fixture(scope="module")
def standins() -> Iterator[dict[str, StandIn]]:
    servers: dict[str, StandIn] = {"openai": OpenAIStandIn().start(), "anthropic": AnthropicStandIn().start()}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(params=["openai", "anthropic"])
def model(
    request: pytest.FixtureRequest,
    standins: dict[str, StandIn],
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Model]:
    """Each provider in turn, configured as the worker reads it from the environment."""
    provider = request.param
    standin = standins[provider]
    base = f"{standin.origin}/v1" if provider == "openai" else standin.origin
    env = {
        "LLM_PROVIDER": provider,
        "LLM_BASE_URL": base,
        "LLM_MODEL": MODEL,
        "OPENAI_API_KEY": API_KEY,
        "ANTHROPIC_API_KEY": API_KEY,
        "LLM_TIMEOUT_S": "5",
        "LLM_MAX_RETRIES": "0",
        "LLM_PRICES": json.dumps({MODEL: PRICE}),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    llm_settings.cache_clear()
    standin.reset()
    yield Model(provider, standin, StepContext(WorkerSettings(), http, "task", "step"))
    standin.reset()
    llm_settings.cache_clear()
