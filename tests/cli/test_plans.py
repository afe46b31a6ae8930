"""agentctl and plans against the real system: `tools` lists the registry, and `task --wait`
draws a task's plan as the page does (branches side by side, the join below), then the
result, or the answer with its sources."""

from __future__ import annotations

import re

from tests.cli.conftest import Run
from tests.support.pageserver import PageServer

PUBLIC_TOOLS = ("fetch_url", "extract_text", "summarize", "answer", "compare")


def test_tools_lists_the_registry(agentctl: Run) -> None:
    listed = agentctl("tools")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert re.match(r"TOOL\s+DESCRIPTION\s+PARAMETERS\s+READS\s+GIVES", lines[0])
    for name in PUBLIC_TOOLS:
        assert any(line.startswith(f"{name} ") for line in lines), name
    assert "question*: string" in listed.out  # answer's required parameter
    assert "text (2 or more)" in listed.out  # what compare reads
    assert "echo" not in listed.out  # internal tools stay out
    tools = agentctl("tools", "--json").json()
    assert {t["name"] for t in tools} >= set(PUBLIC_TOOLS)
    answer = next(t for t in tools if t["name"] == "answer")
    assert answer["parameters"]["required"] == ["question"]
    assert " ".join(answer["description"].split()[:4]) in listed.out  # "Answer a question from"


def test_wait_draws_the_branches_side_by_side_and_the_join_below(agentctl: Run, pages: PageServer) -> None:
    urls = [pages.url(f"/pages/{name}.html") for name in ("ars-1", "bbc-1", "cnn")]
    result = agentctl("task", f"Summarize and compare {urls[0]}, {urls[1]} and {urls[2]}", "--wait")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "planned by the rules" in result.out
    # one line holds the three branches' titles, left to right
    heads = [line for line in lines if "branch 1" in line]
    assert len(heads) == 1
    assert heads[0].index("branch 1") < heads[0].index("branch 2") < heads[0].index("branch 3")
    # each branch fetched and extracted; their lines sit side by side too
    assert any(line.count("fetch_url  completed") == 3 for line in lines)
    assert any(line.count("extract_text  completed") == 3 for line in lines)
    join = next(i for i, line in enumerate(lines) if "step 4 reads branches 1, 2 and 3" in line)
    assert join > lines.index(heads[0])
    assert any("compare  completed" in line for line in lines[join:])
    assert "result:" in result.out and "Compared 3 texts" in result.out


def test_wait_shows_an_answer_with_its_sources(agentctl: Run, pages: PageServer) -> None:
    url = pages.url("/pages/engadget.html")
    result = agentctl("task", f"What does {url} say about how much the Xbox One X weighs?", "--wait")
    assert result.code == 0, result.err
    out = result.out
    assert "╭─ steps" in out and "answer  completed" in out
    answer = out[out.index("answer:\n") :]
    assert "8.4 pounds" in answer
    assert re.search(r"sources:\n\[1\] “.+”\n    " + re.escape(url), answer)
    assert "result:" not in out  # the answer is not shown twice
