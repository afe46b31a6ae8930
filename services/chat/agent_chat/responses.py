"""HTTP answers for model failures: the status that fits and a detail that says what happened."""

from __future__ import annotations

from agent_common.llm import LLMError
from agent_common.web import ORJSONResponse, error


def llm_error(exc: LLMError) -> ORJSONResponse:
    headers = {"retry-after": str(exc.retry_after_s)} if exc.retry_after_s else None
    return error(exc.status, exc.detail, headers=headers)
