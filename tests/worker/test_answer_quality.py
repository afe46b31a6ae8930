"""Answer quality of the offline answer tool on the 20 fixture pages.

answer_questions.json holds questions over the pages, each with THE sentence of its page that
answers it, chosen by reading the pages (as extract_text gives them) before the tool was
written. Each page goes through the real extract_text step and each question through the
answer step, offline; the first citation must hold the answer sentence for at least 80% of
the questions. The figure is printed and written to test-artifacts/answer-quality.txt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent_common.summarizer import split_sentences
from agent_worker.steps import answer
from tests.shared_data import PAGE_NAMES
from tests.worker.conftest import extracted, offline, page_url

QUESTIONS = json.loads((Path(__file__).parent / "answer_questions.json").read_text(encoding="utf-8"))["pages"]
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "answer-quality.txt"
GOAL = 0.80


def flat(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Outcome:
    page: str
    question: str
    wanted: str
    first: str | None
    url: str | None

    @property
    def hit(self) -> bool:
        return self.first is not None and flat(self.wanted) in flat(self.first)


@pytest.fixture(scope="module")
async def outcomes(http: httpx.AsyncClient) -> list[Outcome]:
    found = []
    for page, questions in QUESTIONS.items():
        source = await extracted(page, http)
        for item in questions:
            output = await answer.run({"question": item["question"]}, [source], offline(http))
            first = output["citations"][0] if output["citations"] else {}
            found.append(
                Outcome(page, item["question"], item["sentence"], first.get("quote"), first.get("url"))
            )
    return found


async def test_the_set_covers_every_page_with_sentences_of_the_page(http: httpx.AsyncClient) -> None:
    """At least three questions a page, each answer a whole sentence of the extracted page."""
    assert sorted(QUESTIONS) == sorted(PAGE_NAMES)
    for page, questions in QUESTIONS.items():
        assert len(questions) >= 3, page
        sentences = {flat(s) for s in split_sentences((await extracted(page, http)).output["text"])}
        for item in questions:
            assert flat(item["sentence"]) in sentences, (page, item["question"])


def test_the_first_citation_holds_the_answer_sentence_for_most_questions(outcomes: list[Outcome]) -> None:
    hits = sum(o.hit for o in outcomes)
    share = hits / len(outcomes)
    lines = [
        f"answer quality: first citation holds the answer sentence for {hits}/{len(outcomes)} "
        f"questions ({share:.1%}; goal {GOAL:.0%})"
    ]
    lines += [f"  miss {o.page}: {o.question}\n    got: {o.first}" for o in outcomes if not o.hit]
    report = "\n".join(lines)
    print("\n" + report)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(report + "\n", encoding="utf-8")
    assert share >= GOAL, report


def test_every_citation_names_the_page_it_quotes(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        assert o.first is not None and o.url == page_url(o.page), o
