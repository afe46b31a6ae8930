"""The answer step: offline answers cite sentences of the pages with their URLs, a missing
input is reported, text of any length within the fetch limit is answered; with a model
(through the OpenAI and Anthropic wire stand-ins) only quotes found in the pages are kept,
and a model that fails, is slow, answers no JSON or invents its quotes gives way to the
offline answer with the reason recorded."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from agent_common.summarizer import split_sentences
from agent_worker import answering
from agent_worker.answer_llm import model_input, verified
from agent_worker.answering import Source
from agent_worker.modeljson import parse_object
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepError, StepInput, answer
from tests.shared_data import PAGE_NAMES
from tests.support.llm_standins import Reply
from tests.support.pageserver import TEXT_ARTICLE
from tests.worker.conftest import MODEL, PRICE, Model, extracted, offline, page_url

LGP30 = (
    "This “desk” computer — it was the size of a desk — weighed some 800 pounds and sounded like a "
    "passing propeller plane."
)


def sentences_of(step_input: StepInput) -> set[str]:
    return set(split_sentences(step_input.output["text"]))


async def test_citations_are_sentences_of_the_page_they_name(http: httpx.AsyncClient) -> None:
    pages = {p: await extracted(p, http, f"extract_{p}") for p in ("engadget", "quanta-1", "wikipedia")}
    output = await answer.run(
        {"question": "Who popularized the term software engineering?"}, list(pages.values()), offline(http)
    )
    assert output["method"] == "extractive" and output["found"] is True
    first = output["citations"][0]
    assert first["url"] == page_url("quanta-1")
    assert "popularized the term “software engineering,”" in first["quote"]
    by_url = {page_url(p): sentences_of(i) for p, i in pages.items()}
    for citation in output["citations"]:
        assert citation["quote"] in by_url[citation["url"]]
    assert output["answer"].startswith(first["quote"])
    assert [s["url"] for s in output["sources"]] == [page_url(p) for p in pages]


async def test_a_missing_input_is_reported_and_the_others_answer(http: httpx.AsyncClient) -> None:
    gone = StepInput("extract_2", "extract_text", None, "fetch_2 failed (answered HTTP 404)")
    output = await answer.run(
        {"question": "How much does the Xbox One X weigh?"},
        [await extracted("engadget", http, "extract_1"), gone],
        offline(http),
    )
    assert output["missing"] == [
        {"step_id": "extract_2", "type": "extract_text", "error": "fetch_2 failed (answered HTTP 404)"}
    ]
    assert "8.4 pounds" in output["answer"]


async def test_with_no_text_at_all_the_step_fails_with_the_reason(http: httpx.AsyncClient) -> None:
    gone = StepInput("extract_1", "extract_text", None, "fetch_1 failed (timed out)")
    reason = r"nothing to answer from: extract_1 failed \(fetch_1 failed \(timed out\)\)"
    with pytest.raises(StepError, match=reason):
        await answer.run({"question": "Why?"}, [gone], offline(http))
    with pytest.raises(StepError, match="needs a question"):
        await answer.run({"question": "  "}, [await extracted("cnn", http)], offline(http))


async def test_the_url_in_a_question_is_not_part_of_what_is_asked(http: httpx.AsyncClient) -> None:
    """The rule planner passes the whole request ("What does https://… say about …?"): the
    address's words (wiki, org, https) must not pull in sentences that merely name them."""
    page = await extracted("wikipedia", http)
    question = f"What does {page_url('wikipedia')}?src=en.wikipedia.org/wiki say about the revenue in 2011?"
    output = await answer.run({"question": question}, [page], offline(http))
    quotes = [c["quote"] for c in output["citations"]]
    assert any("total revenue for 2011 was $163 million" in q for q in quotes), quotes
    assert all(re.search(r"revenue|2011", q, re.IGNORECASE) for q in quotes), quotes


async def test_a_question_the_text_does_not_touch_gets_no_citation(http: httpx.AsyncClient) -> None:
    text = StepInput("extract_1", "extract_text", {"title": "Redis", "text": TEXT_ARTICLE, "url": None})
    output = await answer.run({"question": "Who painted the Mona Lisa?"}, [text], offline(http))
    assert output["found"] is False and output["citations"] == []
    assert output["answer"] == "No sentence in the sources matches the question."


async def test_a_text_as_long_as_the_fetch_limit_allows_is_answered(http: httpx.AsyncClient) -> None:
    """Close to the fetch limit of text (the 20 pages, repeated), one sentence in it answering."""
    pages = [(await extracted(p, http)).output["text"] for p in PAGE_NAMES]
    body = "\n\n".join(pages)
    needle = "The keeper on Ailsa Craig counted 4,812 gannets in the spring of 1931."
    limit = WorkerSettings().fetch_max_bytes
    copies = int(0.95 * limit / len(body.encode()))
    text = "\n\n".join([body] * (copies - 1) + [needle, body])
    assert 0.85 * limit < len(text.encode()) <= limit
    source = StepInput(
        "extract_1", "extract_text", {"title": "Long", "text": text, "url": "http://long.example/"}
    )
    output = await answer.run({"question": "How many gannets did the keeper count?"}, [source], offline(http))
    assert output["citations"][0] == {"url": "http://long.example/", "quote": needle}


def test_model_quotes_count_only_where_they_occur_in_a_source() -> None:
    pages = [
        Source("Intro line here.\n\nThe cat sat on the mat. “It’s warm,” she said.", "http://a/"),
        Source("Dogs bark at   night when the moon is full. Birds sing.", "http://b/"),
    ]
    kept, dropped = verified(
        [
            (1, '"It\'s warm," she said.'),  # plain quotes for typographic ones
            (1, "Dogs bark at night when the moon"),  # part of a sentence, named for the wrong source
            (2, "The moon is made of cheese, they say."),  # not in any source
            (1, "The cat"),  # too short to check
        ],
        pages,
        min_words=3,
    )
    assert [(c.url, c.quote) for c in kept] == [
        ("http://a/", "“It’s warm,” she said."),
        ("http://b/", "Dogs bark at   night when the moon is full."),
    ]
    assert len(dropped) == 2 and "not in the sources" in dropped[0] and "too short" in dropped[1]


async def test_a_long_source_reaches_the_model_as_its_best_matching_chunks(http: httpx.AsyncClient) -> None:
    page = (await extracted("wikipedia", http)).output
    prompt = model_input(
        "What was Mozilla's total revenue for 2011?",
        [Source(page["text"], page["url"], page["title"])],
        budget=3000,
        chunk_size=600,
    )
    assert len(prompt) <= 3000
    assert "total revenue for 2011 was $163 million" in prompt and "[…]" in prompt
    assert prompt.startswith(
        "Question: What was Mozilla's total revenue for 2011?\n\nSource 1: Mozilla - Wikipedia"
    )


def test_a_fenced_or_wrapped_json_answer_is_read() -> None:
    assert parse_object('```json\n{"answer": "x"}\n```') == ({"answer": "x"}, None)
    assert parse_object('Here you go: {"answer": "x"} Hope it helps.') == ({"answer": "x"}, None)
    data, problem = parse_object("It weighs 800 pounds.")
    assert data is None and problem == "the model's answer was not a JSON object: 'It weighs 800 pounds.'"


# --- with a model ------------------------------------------------------------------------------


async def test_the_model_answers_and_only_its_real_quotes_are_kept(
    model: Model, http: httpx.AsyncClient
) -> None:
    reply = {
        "answer": "About 800 pounds.",
        "citations": [
            {"source": 1, "quote": 'This "desk" computer - it was the size of a desk - weighed some 800'},
            {"source": 1, "quote": 'This "desk" computer — it was the size of a desk — weighed some 800'},
            {"source": 1, "quote": "The LGP-30 weighed exactly one ton, the manual says."},
        ],
    }
    model.standin.queue(Reply(json.dumps(reply)))
    output = await answer.run(
        {"question": "How heavy was the LGP-30?"}, [await extracted("quanta-1", http)], model.ctx
    )
    assert output["method"] == "llm" and output["model"] == MODEL
    assert output["answer"] == "About 800 pounds."
    assert output["citations"] == [{"url": page_url("quanta-1"), "quote": LGP30}]
    assert len(output["dropped_citations"]) == 2  # dashes changed, and made up
    sent = model.request_text()
    assert "How heavy was the LGP-30?" in sent and "weighed some 800 pounds" in sent
    prompt, completion = model.standin.usage_sent[-1]
    cost = (PRICE["input"] * prompt + PRICE["output"] * completion) / 1_000_000
    assert model.ctx.usage == {
        "provider": model.provider,
        "model": MODEL,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": pytest.approx(cost),
    }


async def test_invented_quotes_give_way_to_the_offline_answer(model: Model, http: httpx.AsyncClient) -> None:
    model.standin.queue(
        Reply(
            json.dumps(
                {
                    "answer": "One ton.",
                    "citations": [
                        {"source": 1, "quote": "The LGP-30 weighed exactly one ton, the manual says."}
                    ],
                }
            )
        )
    )
    output = await answer.run(
        {"question": "How heavy was the LGP-30 desk computer?"},
        [await extracted("quanta-1", http)],
        model.ctx,
    )
    assert output["method"] == "extractive"
    assert output["llm_error"] == "none of the model's 1 quotes occur in the sources"
    assert output["citations"][0]["quote"] == LGP30
    assert model.ctx.usage is not None and model.ctx.usage["completion_tokens"] > 0  # spent all the same


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("500", r"API failed \(HTTP 500\)"),
        ("timeout", r"did not answer within 0\.5s"),
        ("prose", r"not a JSON object"),
    ],
)
async def test_a_failing_slow_or_unreadable_model_gives_way_to_the_offline_answer(
    model: Model, http: httpx.AsyncClient, mode: str, error: str
) -> None:
    if mode == "prose":
        model.standin.queue(Reply("The Xbox One X weighs 8.4 pounds."))
    else:
        model.standin.mode, model.standin.hang_s = mode, 2.0
    model.ctx.settings = WorkerSettings(answer_llm_timeout_s=0.5)
    output = await answer.run(
        {"question": "How much does the Xbox One X weigh?"}, [await extracted("engadget", http)], model.ctx
    )
    assert output["method"] == "extractive"
    assert "8.4 pounds" in output["answer"]
    assert re.search(error, output["llm_error"])


def test_words_stem_the_same_when_steps_run_in_parallel_threads() -> None:
    """Steps run in worker threads (asyncio.to_thread): two answer or compare steps stemming
    at once must not corrupt each other (one shared Snowball stemmer raised IndexError)."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    import snowballstemmer

    rng = random.Random(7)  # noqa: S311 - test words, not secrets
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 14)))
        + rng.choice(["ing", "ed", "ation", "ness", "ly", "s", "ies"])
        for _ in range(40_000)
    ]
    reference = snowballstemmer.stemmer("english")
    expected = {w: reference.stemWord(w) for w in vocab}
    answering.stem.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda chunk: [(w, answering.stem(w)) for w in chunk], [vocab[i::8] for i in range(8)])
        )
    wrong = [(w, s) for chunk in results for w, s in chunk if s != expected[w]]
    assert not wrong, wrong[:5]
