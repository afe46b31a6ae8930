"""schemathesis against each service's OpenAPI: generated valid and invalid requests,
answered without a server error and only with the status codes the description lists
(and bodies, content types and headers that match it)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agent_common.devstack import Stack

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# per operation and mode in `make test`; make test-reliability runs 300
EXAMPLES = 25


@pytest.fixture(scope="session")
def orchestrator_api(stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(stack.url("orchestrator") + "/openapi.json")


@pytest.fixture(scope="session")
def chat_api(stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(stack.url("chat") + "/openapi.json")


@pytest.fixture(scope="session")
def gateway_api(open_gateway: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(open_gateway + "/openapi.json")


@pytest.fixture(scope="session")
def bearer(open_gateway: str) -> dict[str, str]:
    token = httpx.post(open_gateway + "/api/session").json()["session_token"]
    return {"Authorization": f"Bearer {token}"}


def fuzz(schema: schemathesis.BaseSchema, examples: int, headers: dict[str, str] | None = None) -> None:
    """Every operation, valid and invalid requests; each failure kept with its operation (the
    pytest plugin's own parametrize does not run on this pytest)."""
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                print_blob=False,
            )
            @given(operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide another's
                failures[f"{operation.label} ({mode})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_orchestrator(orchestrator_api: schemathesis.BaseSchema) -> None:
    fuzz(orchestrator_api, EXAMPLES)


def test_chat(chat_api: schemathesis.BaseSchema) -> None:
    fuzz(chat_api, EXAMPLES)


def test_gateway(gateway_api: schemathesis.BaseSchema, bearer: dict[str, str]) -> None:
    fuzz(gateway_api, EXAMPLES, bearer)


@pytest.mark.reliability_long
def test_every_api_longer(
    orchestrator_api: schemathesis.BaseSchema,
    chat_api: schemathesis.BaseSchema,
    gateway_api: schemathesis.BaseSchema,
    bearer: dict[str, str],
) -> None:
    for schema, headers in ((orchestrator_api, None), (chat_api, None), (gateway_api, bearer)):
        fuzz(schema, 300, headers)
