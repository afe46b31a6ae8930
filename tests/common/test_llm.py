"""The shared LLM layer's pure parts: message shapes per API, argument parsing, error
mapping, prices; and the offline assistant's intent routing. No processes, no network."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent_common.llm import ModelPrice, Usage, cost_usd
from agent_common.llm.anthropic_provider import to_anthropic_messages
from agent_common.llm.errors import describe_status, retry_after
from agent_common.llm.openai_provider import parse_arguments, to_openai_messages
from agent_common.llm.types import LLMRequest, Message, ToolCall

CALL = ToolCall("call_1", "get_task", {"task_id": "t"})


def test_openai_messages_carry_system_tool_calls_and_results() -> None:
    request = LLMRequest(
        "sys",
        [
            Message("user", "hi"),
            Message("assistant", "", (CALL,)),
            Message("tool", '{"status": "queued"}', tool_call_id="call_1"),
        ],
    )
    assert to_openai_messages(request) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_task", "arguments": '{"task_id": "t"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "queued"}'},
    ]


def test_anthropic_messages_start_with_a_user_alternate_and_skip_empty_text() -> None:
    messages = [
        Message("assistant", "an answer whose question fell out of the window"),
        Message("user", "one"),
        Message("user", "two"),
        Message("assistant", " ", (CALL,)),
        Message("tool", "result", tool_call_id="call_1"),
    ]
    assert to_anthropic_messages(messages) == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "get_task", "input": {"task_id": "t"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "result"}]},
    ]


@pytest.mark.parametrize(
    "raw, parsed",
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        (None, {}),
        ("[1]", {"_unparsed": "[1]"}),
        ("{bad", {"_unparsed": "{bad"}),
    ],
)
def test_tool_arguments_that_do_not_parse_are_passed_on_to_the_tool(
    raw: str | None, parsed: dict[str, object]
) -> None:
    assert parse_arguments(raw) == parsed


@pytest.mark.parametrize(
    "status, http, kind",
    [
        (401, 502, "auth"),
        (403, 502, "auth"),
        (429, 503, "rate_limited"),
        (500, 502, "upstream_error"),
        (502, 502, "upstream_error"),
        (503, 503, "unavailable"),
        (529, 503, "unavailable"),
        (400, 502, "bad_request"),
        (404, 502, "bad_request"),
    ],
)
def test_upstream_statuses_map_to_ours(status: int, http: int, kind: str) -> None:
    error = describe_status("openai", status, "OPENAI_API_KEY", "model 'x' not found")
    assert (error.status, error.kind, error.upstream_status) == (http, kind, status)
    assert ("model 'x' not found" in error.detail) == (kind == "bad_request")


def test_retry_after_reads_seconds_only() -> None:
    assert retry_after({"retry-after": "7"}) == 7 and retry_after({"retry-after": "1.6"}) == 2
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None and retry_after({}) is None


def test_cost_needs_a_configured_price() -> None:
    prices = {"m": ModelPrice(input=2.5, output=10)}
    assert cost_usd(prices, "m", Usage(1000, 200)) == Decimal("0.0045")
    assert cost_usd(prices, "other", Usage(1000, 200)) is None
    assert Usage(1, 2) + Usage(3, 4) == Usage(4, 6)
