"""What the OpenAI and Anthropic providers share: both official SDKs have the same error
classes (APITimeoutError, APIConnectionError, APIStatusError under APIError), which become
the same LLMErrors, and both streams fail the same ways mid-answer."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from pydantic import SecretStr

from agent_common.llm import errors
from agent_common.llm.base import Provider, StreamItem
from agent_common.llm.errors import LLMError
from agent_common.llm.settings import LLMSettings
from agent_common.llm.types import Completion, LLMRequest, TextDelta

T = TypeVar("T")


@dataclass
class StreamState:
    """Puts a streamed answer back together from the SDK's events (one subclass per SDK)."""

    UNFINISHED: ClassVar[str] = "the stream ended early"  # said of a stream cut before its end
    model: str
    parts: list[str] = field(default_factory=list)  # the text so far

    def add(self, event: Any) -> str:
        """Take in one event; the text it adds."""
        raise NotImplementedError

    def finished(self) -> bool:
        raise NotImplementedError

    def completion(self) -> Completion:
        raise NotImplementedError


class SDKProvider(Provider):
    """A provider behind an official SDK: `sdk` the module, `client_class` its async client."""

    sdk: ModuleType
    client_class: str

    def __init__(self, settings: LLMSettings) -> None:
        super().__init__(settings)
        key: SecretStr = getattr(settings, self.key_var.lower())
        # local servers need no key, but the SDKs insist on one
        self.client: Any = getattr(self.sdk, self.client_class)(
            api_key=key.get_secret_value() or "no-key-set",
            base_url=settings.llm_base_url or None,
            max_retries=settings.llm_max_retries,
            timeout=self.sdk.Timeout(settings.llm_timeout_s, connect=settings.llm_connect_timeout_s),
        )

    async def close(self) -> None:
        await self.client.close()

    def _error(self, exc: Exception, *, streaming: bool, status: int | None = None) -> LLMError:
        return to_llm_error(
            self.sdk,
            exc,
            provider=self.name,
            key_var=self.key_var,
            timeout_s=self.settings.llm_timeout_s,
            base_url=str(self.client.base_url),
            streaming=streaming,
            status=status,
        )

    @abstractmethod
    def _open_stream(self, request: LLMRequest) -> Awaitable[Any]:
        """The SDK call that starts a streamed answer."""

    @abstractmethod
    def _stream_state(self) -> StreamState: ...

    async def _stream(self, request: LLMRequest) -> AsyncGenerator[StreamItem, None]:
        stream = await self._call(self._open_stream(request))
        state = self._stream_state()
        async with stream:
            async for event in self._guarded(stream):
                text = state.add(event)
                if text:
                    yield TextDelta(text)
        if not state.finished():
            raise errors.broken(self.name, state.UNFINISHED)
        yield state.completion()

    async def _call(self, call: Awaitable[T]) -> T:
        """An SDK call; its failure as an LLMError."""
        try:
            return await call
        except self.sdk.APIError as exc:
            raise self._error(exc, streaming=False) from exc

    def _guarded(self, stream: AsyncIterable[T]) -> AsyncIterator[T]:
        """The stream's items; a failure in the middle of it as an LLMError."""
        return guarded(
            aiter(stream),
            self.sdk.APIError,
            lambda exc: self._error(exc, streaming=True),
            provider=self.name,
            timeout_s=self.settings.llm_timeout_s,
        )


def to_llm_error(
    sdk: ModuleType,
    exc: Exception,
    *,
    provider: str,
    key_var: str,
    timeout_s: float,
    base_url: str,
    streaming: bool,
    status: int | None = None,
) -> LLMError:
    """The LLMError for an SDK's APIError. `status` replaces the HTTP status when the error
    arrived as an event inside a 200 stream."""
    if isinstance(exc, sdk.APITimeoutError):
        return errors.timeout(provider, timeout_s)
    if isinstance(exc, sdk.APIConnectionError):
        cause = transport_cause(exc)
        if streaming or "Connect" not in cause:  # connected, then the answer broke off
            return errors.broken(provider, cause)
        return errors.unreachable(provider, base_url)
    if isinstance(exc, sdk.APIStatusError):
        return errors.describe_status(
            provider,
            status or exc.status_code,
            key_var,
            error_text(exc.body),
            errors.retry_after(exc.response.headers),
        )
    # an error event inside the stream
    message = str(getattr(exc, "message", exc))
    return LLMError(
        "upstream_error", f"the {provider} API reported an error: {message[: errors.MAX_QUOTED_CHARS]}"
    )


async def guarded(
    items: AsyncIterator[T],
    api_error: type[Exception],
    on_api_error: Callable[[Exception], LLMError],
    *,
    provider: str,
    timeout_s: float,
) -> AsyncIterator[T]:
    """An SDK stream's items; a failure in the middle of it as an LLMError."""
    while True:
        try:
            item = await anext(items)
        except StopAsyncIteration:
            return
        except LLMError:
            raise
        except api_error as exc:
            raise on_api_error(exc) from exc
        except Exception as exc:  # transport errors the SDK lets through mid-stream
            if "timeout" in exc.__class__.__name__.lower():
                raise errors.timeout(provider, timeout_s) from exc
            raise errors.broken(provider, exc.__class__.__name__) from exc
        yield item


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """A tool call's JSON arguments; what does not parse to an object is passed on as
    `_unparsed` so the tool can say what was wrong."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"_unparsed": raw}
    return value if isinstance(value, dict) else {"_unparsed": raw}


def error_text(body: object) -> str:
    """The human message inside an API error body ({"error": {"message": ...}} or {"message": ...})."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(message := inner.get("message"), str):
            return message
        if isinstance(inner, str):
            return inner
    return ""


def transport_cause(exc: BaseException) -> str:
    """The transport error under an SDK connection error (e.g. RemoteProtocolError)."""
    cause = exc.__cause__ or exc.__context__
    return cause.__class__.__name__ if cause else exc.__class__.__name__
