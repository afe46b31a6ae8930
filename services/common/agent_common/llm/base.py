"""The one small interface every model provider implements.

`complete()` returns the whole answer; `stream()` yields `TextDelta`s as they arrive and
then one `Completion`. Both raise `LLMError` on any upstream failure and record the call
in the Prometheus metrics. Closing the stream early (the caller stops iterating or is
cancelled) closes the upstream HTTP response, so the provider stops generating."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from contextlib import aclosing

from agent_common.llm import errors, metrics, spans
from agent_common.llm.errors import LLMError
from agent_common.llm.settings import LLMSettings
from agent_common.llm.types import Completion, LLMRequest, TextDelta

StreamItem = TextDelta | Completion


class Provider(ABC):
    name: str = ""
    key_var: str = ""  # the environment variable holding this provider's API key

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.model = settings.model_name()

    @abstractmethod
    async def _complete(self, request: LLMRequest) -> Completion: ...

    @abstractmethod
    def _stream(self, request: LLMRequest) -> AsyncGenerator[StreamItem, None]: ...

    async def close(self) -> None:  # noqa: B027 - providers without a client have nothing to close
        pass

    def max_tokens(self, request: LLMRequest) -> int:
        return request.max_tokens or self.settings.llm_max_tokens

    async def complete(self, request: LLMRequest) -> Completion:
        started = time.perf_counter()
        with spans.call_span(self.name, self.model, self.max_tokens(request), current=True) as span:
            try:
                result = await self._complete(request)
            except LLMError as exc:
                spans.record_failure(span, exc.kind, exc.detail)
                metrics.record_call(self.name, self.model, exc.kind, time.perf_counter() - started)
                raise
            spans.record_completion(span, result)
        metrics.record_call(self.name, self.model, "ok", time.perf_counter() - started)
        metrics.record_usage(self.name, self.model, result.usage, self.settings.llm_prices)
        return result

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamItem, None]:
        started = time.perf_counter()
        outcome = "cancelled"  # stays so when the caller stops reading before the end
        with spans.call_span(self.name, self.model, self.max_tokens(request), current=False) as span:
            try:
                async with aclosing(self._stream(request)) as items:
                    async for item in items:
                        self._check_deadline(started)
                        if isinstance(item, Completion):
                            outcome = "ok"
                            spans.record_completion(span, item)
                            metrics.record_usage(self.name, self.model, item.usage, self.settings.llm_prices)
                        yield item
            except LLMError as exc:
                outcome = exc.kind
                spans.record_failure(span, exc.kind, exc.detail)
                raise
            finally:
                metrics.record_call(self.name, self.model, outcome, time.perf_counter() - started)

    def _check_deadline(self, started: float) -> None:
        """The SDK's timeout bounds each read; this bounds a stream that drips forever."""
        limit = self.settings.llm_stream_max_s
        if time.perf_counter() - started > limit:
            raise errors.timeout(self.name, limit)
