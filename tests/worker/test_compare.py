"""The compare step: two reports of one story share points (a sentence of each) and terms,
unrelated pages share none, a missing input is reported, a long text is cut to fit the
model; with a model (OpenAI and Anthropic wire stand-ins) its comparison is used, and an
unusable or failing model gives way to the offline comparison with the reason recorded."""

from __future__ import annotations

import json

import httpx
import pytest

from agent_common.summarizer import split_sentences
from agent_worker.settings import WorkerSettings
from agent_worker.steps import StepError, StepInput, compare
from tests.support.llm_standins import Reply
from tests.worker.conftest import MODEL, Model, extracted, offline, page_url

# the Minecraft story of the ars-1 page as a second outlet might report it, in its own words
SECOND_REPORT = """\
Minecraft servers can be knocked offline with a single crafted packet, a security researcher warns.

Ammar Askar says the flaw lets anyone crash a Minecraft server by sending deeply nested lists of NBT \
data. He reported the bug to Mojang privately almost two years ago and published proof-of-concept code \
after the company failed to act.

The payload holds 30 million lists, which the server tries to turn into Java objects until it runs out \
of memory. Compressed with zlib, the malicious packet is only 39 kilobytes.

Askar recommends that Mojang limit the size and recursion depth of NBT data that clients may send. \
Server operators have no official patch yet.
"""
SECOND_URL = "http://news.example/minecraft-crash"


def second_report() -> StepInput:
    return StepInput(
        "extract_2",
        "extract_text",
        {"title": "Minecraft crash bug", "text": SECOND_REPORT, "url": SECOND_URL},
    )


async def test_two_reports_of_one_story_share_points_and_terms(http: httpx.AsyncClient) -> None:
    ars = await extracted("ars-1", http, "extract_1")
    output = await compare.run({}, [ars, second_report()], offline(http))
    assert output["method"] == "extractive"
    sentences = {
        page_url("ars-1"): set(split_sentences(ars.output["text"])),
        SECOND_URL: set(split_sentences(SECOND_REPORT)),
    }
    pairs = output["shared_points"]
    assert pairs, output["summary"]
    for pair in pairs:
        assert [q["url"] for q in pair["quotes"]] == [page_url("ars-1"), SECOND_URL]
        assert all(q["quote"] in sentences[q["url"]] for q in pair["quotes"])
    payload = [p["quotes"][1]["quote"] for p in pairs if "39 kilobytes" in p["quotes"][0]["quote"]]
    assert payload == ["Compressed with zlib, the malicious packet is only 39 kilobytes."]
    assert {"minecraft", "mojang", "nbt"} <= set(output["shared_terms"])
    first, second = output["texts"]
    assert (first["url"], second["url"]) == (page_url("ars-1"), SECOND_URL)
    assert all(k in sentences[first["url"]] for k in first["key_points"]) and first["key_points"]
    assert "Minecraft crash bug" in output["summary"] and "They make a similar point" in output["summary"]


async def test_unrelated_pages_share_no_point_and_keep_their_own_terms(http: httpx.AsyncClient) -> None:
    pages = [await extracted("engadget", http, "e"), await extracted("guardian-1", http, "g")]
    output = await compare.run({}, pages, offline(http))
    assert output["shared_points"] == [] and output["shared"] == []
    assert "No sentence of one closely matches a sentence of another." in output["summary"]
    xbox, whales = output["texts"]
    assert "xbox" in xbox["distinct_terms"] and "whale" in whales["distinct_terms"]
    assert xbox["only_here"] and whales["only_here"]


async def test_a_failed_branch_is_reported_and_the_others_are_compared(http: httpx.AsyncClient) -> None:
    gone = StepInput("extract_3", "extract_text", None, "fetch_3 failed (answered HTTP 404)")
    output = await compare.run(
        {}, [await extracted("ars-1", http, "extract_1"), second_report(), gone], offline(http)
    )
    assert output["missing"] == [
        {"step_id": "extract_3", "type": "extract_text", "error": "fetch_3 failed (answered HTTP 404)"}
    ]
    assert len(output["texts"]) == 2 and output["shared_points"]


async def test_nothing_to_compare_fails_with_the_reason(http: httpx.AsyncClient) -> None:
    gone = [StepInput(f"extract_{n}", "extract_text", None, "fetch failed (timed out)") for n in (1, 2)]
    reason = r"nothing to compare: extract_1 failed \(fetch failed \(timed out\)\)"
    with pytest.raises(StepError, match=reason):
        await compare.run({}, gone, offline(http))


async def test_long_texts_reach_the_model_cut_to_their_share(model: Model, http: httpx.AsyncClient) -> None:
    model.standin.queue(Reply("not JSON"))
    model.ctx.settings = WorkerSettings(compare_llm_input_max_chars=4000)
    pages = [await extracted("wikipedia", http, "w"), await extracted("ietf-1", http, "i")]
    await compare.run({}, pages, model.ctx)
    [body] = model.standin.requests
    sent = json.dumps(body, ensure_ascii=False)
    user = next(t for t in model.standin.texts(body) if t.startswith("Text 1: "))
    assert len(user) <= 4000 and "[…]" in user and "\n\nText 2: remoteStorage" in user
    assert "Compare the numbered texts" in sent


async def test_the_model_writes_the_comparison(model: Model, http: httpx.AsyncClient) -> None:
    reply = {
        "texts": [
            {"source": 1, "key_points": ["A nested NBT packet crashes servers."]},
            {"source": 2, "key_points": ["One crafted packet knocks servers offline."]},
        ],
        "shared": ["Both describe a crash caused by nested NBT data."],
        "differences": [{"source": 1, "points": ["Gives the packet's exact structure."]}],
        "summary": "Both texts report the same Minecraft crash bug.",
    }
    model.standin.queue(Reply(json.dumps(reply)))
    output = await compare.run({}, [await extracted("ars-1", http, "extract_1"), second_report()], model.ctx)
    assert output["method"] == "llm" and output["model"] == MODEL
    assert output["summary"] == "Both texts report the same Minecraft crash bug."
    assert output["shared"] == ["Both describe a crash caused by nested NBT data."]
    first, second = output["texts"]
    assert first["url"] == page_url("ars-1")
    assert first["key_points"] == ["A nested NBT packet crashes servers."]
    assert first["only_here"] == ["Gives the packet's exact structure."] and second["only_here"] == []
    assert model.ctx.usage is not None and model.ctx.usage["model"] == MODEL


@pytest.mark.parametrize(
    ("mode", "error"), [("500", "API failed (HTTP 500)"), ("empty", "no key points and no summary")]
)
async def test_an_unusable_model_gives_way_to_the_offline_comparison(
    model: Model, http: httpx.AsyncClient, mode: str, error: str
) -> None:
    if mode == "empty":
        model.standin.queue(Reply(json.dumps({"texts": [], "shared": []})))
    else:
        model.standin.mode = mode
    output = await compare.run({}, [await extracted("ars-1", http, "extract_1"), second_report()], model.ctx)
    assert output["method"] == "extractive" and error in output["llm_error"]
    assert output["shared_points"]
