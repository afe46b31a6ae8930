"""What a service process loads: nothing it does not use."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_redis_does_not_pull_in_the_metrics_sdk() -> None:
    modules = loaded_after("import agent_worker.runner, agent_common.queue")
    assert "redis.asyncio" in modules
    assert not any(m.startswith("opentelemetry.sdk.metrics.") for m in modules)


def test_the_worker_loads_no_llm_sdk_while_offline() -> None:
    modules = loaded_after("import agent_worker.__main__")
    assert not {"openai", "anthropic"} & modules


def test_a_worker_loads_the_answer_and_compare_rankers_only_when_it_runs_them() -> None:
    """Their stemmer and vectors (about 7 MB) stay out of a worker that has only fetched,
    extracted and summarized."""
    modules = loaded_after(
        "import agent_worker.__main__\n"
        "from agent_worker.steps import registry, fetch_url, extract_text, summarize\n"
        "steps = registry()"
    )
    assert "agent_worker.steps.fetch_url" in modules
    assert not {"agent_worker.answering", "agent_worker.comparing", "snowballstemmer"} & modules
