"""The worker's summarize step with a real provider (the OpenAI stand-in): the model writes
the summary and its token usage is recorded on the step; when the model fails, the
extractive summary is used and the failure is kept beside it.

These tasks run in a database and Redis database of their own, with their own
orchestrator and one LLM-configured worker, so the stack's offline workers never take them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from agent_common import migrate
from agent_common.devstack import ServiceProcess, Stack, free_port
from agent_common.llm.summary import PROMPT
from tests.conftest import LLM_ENV, MODEL, PRICE
from tests.support.llm_standins import OpenAIStandIn, Reply
from tests.support.pageserver import TEXT_ARTICLE, PageServer
from tests.support.tasks import new_user, submit, wait_done


@dataclass
class Pipeline:
    orch: httpx.AsyncClient
    db: asyncpg.Pool
    worker_metrics: str
    standin: OpenAIStandIn


@pytest.fixture(scope="module")
async def pipeline(
    stack: Stack, openai_standin: OpenAIStandIn, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pipeline]:
    name = f"llm_worker_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.pg.url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    db_url = stack.pg.url.rsplit("/", 1)[0] + "/" + name
    await migrate.apply(db_url)
    env = {
        **stack.env(),
        **LLM_ENV,
        "DATABASE_URL": db_url,
        "REDIS_URL": stack.redis.url[:-2] + "/1",
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": f"{openai_standin.origin}/v1",
        "PLAN_WITH_LLM": "false",
    }  # the rules plan: the model is asked for the summary alone
    logs: Path = tmp_path_factory.mktemp("llm-worker-logs")
    orch_port, metrics_port = free_port(), free_port()
    procs = [
        ServiceProcess(
            "orchestrator-llm",
            "agent_orchestrator",
            {**env, "PORT": str(orch_port)},
            ready_url=f"http://127.0.0.1:{orch_port}/ready",
            log_dir=logs,
        ),
        ServiceProcess(
            "worker-llm",
            "agent_worker",
            {**env, "METRICS_PORT": str(metrics_port)},
            ready_url=f"http://127.0.0.1:{metrics_port}/ready",
            log_dir=logs,
        ),
    ]
    for proc in procs:
        proc.start()
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        for proc in procs:
            proc.wait_ready()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{orch_port}", timeout=30) as orch:
            yield Pipeline(orch, pool, f"http://127.0.0.1:{metrics_port}/metrics", openai_standin)
    finally:
        await pool.close()
        for proc in procs:
            proc.stop()


@pytest.fixture
def standin(pipeline: Pipeline) -> AsyncIterator[OpenAIStandIn]:
    pipeline.standin.reset()
    yield pipeline.standin
    pipeline.standin.reset()


async def summarize_output(pool: asyncpg.Pool, task_id: str) -> dict:  # type: ignore[type-arg]
    return dict(
        json.loads(
            await pool.fetchval(
                "SELECT output FROM task_steps WHERE task_id = $1 AND type = 'summarize'", uuid.UUID(task_id)
            )
        )
    )


async def test_the_model_writes_the_summary_and_its_usage_is_recorded(
    pipeline: Pipeline, standin: OpenAIStandIn, pages: PageServer
) -> None:
    user = new_user()
    written = "Readers learn how the browser handles add-ons. The change ships next month."
    standin.queue(Reply(written))
    task_id = await submit(pipeline.orch, user, f"Summarize {pages.url('/pages/mozilla-1.html')}")
    task = (await wait_done(pipeline.orch, user, [task_id], timeout=60))[task_id]
    assert task["status"] == "completed", task
    assert re.fullmatch(r"Summary: \d+ words, about \d+ min read\. " + re.escape(written), task["result"])

    [request] = standin.requests
    assert request["model"] == MODEL and request["max_tokens"] == 400
    assert request["messages"][0] == {"role": "system", "content": PROMPT}
    assert request["messages"][1]["content"].startswith("Title: ")

    output = await summarize_output(pipeline.db, task_id)
    prompt, completion = standin.usage_sent[-1]
    cost = (Decimal(str(PRICE["input"])) * prompt + Decimal(str(PRICE["output"])) * completion) / 1_000_000
    assert output["method"] == "llm" and output["model"] == MODEL
    assert output["usage"] == {
        "provider": "openai",
        "model": MODEL,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": float(cost),
    }
    metrics = httpx.get(pipeline.worker_metrics).text
    assert f'llm_tokens_total{{kind="completion",model="{MODEL}",provider="openai"}}' in metrics


@pytest.mark.parametrize("mode", ["500", "timeout"])
async def test_a_failing_model_falls_back_to_the_extractive_summary(
    pipeline: Pipeline, standin: OpenAIStandIn, mode: str
) -> None:
    standin.mode = mode
    user = new_user()
    task_id = await submit(pipeline.orch, user, TEXT_ARTICLE)
    task = (await wait_done(pipeline.orch, user, [task_id], timeout=60))[task_id]
    assert task["status"] == "completed", task
    output = await summarize_output(pipeline.db, task_id)
    assert output["method"] == "extractive" and len(output["sentences"]) >= 3
    assert task["result"] == output["summary"]
    assert ("HTTP 500" if mode == "500" else "did not answer within") in output["llm_error"]
    assert "usage" not in output
