"""The tool registry: every step type a plan may use, what it needs and what it gives.

The orchestrator validates plans against it (agent_common.plans), lists it on GET /tools
and offers it to a planning model as tools; the worker runs the step of the same name
(agent_worker.steps). A tool's `takes` are the kinds of output it reads from the steps it
depends on, and `gives` the kind of output it hands on, so a plan that feeds a raw page
to a text tool is refused before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

# the kinds of output that flow between steps
PAGE, TEXT, SUMMARY, ANSWER, COMPARISON, REPORT, PLAN = (
    "page",
    "text",
    "summary",
    "answer",
    "comparison",
    "report",
    "plan",
)
MAX_URL_CHARS = 2048
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Tool:
    name: str
    description: str  # one line, shown to people and to a planning model
    parameters: dict[str, Any]  # JSON Schema of the step's params
    gives: str  # the kind of its output
    output: dict[str, str]  # its output's fields and what each holds
    takes: tuple[str, ...] = ()  # the kinds of output it reads from its dependencies
    min_inputs: int = 0
    max_inputs: int | None = 0  # None: any number
    # False: internal (echo for benchmarks, replan for the planner): not listed, not offered
    # to a model, refused in a model's plan
    listed: bool = True
    fetches: bool = False  # counts against the plan's fetch limit

    def public(self) -> dict[str, Any]:
        """The GET /tools entry."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "inputs": {"takes": list(self.takes), "min": self.min_inputs, "max": self.max_inputs},
            "output": {"kind": self.gives, "fields": self.output},
        }


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


_URL = {
    "type": "string",
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$",
    "maxLength": MAX_URL_CHARS,
    "description": "an http(s) URL",
}
_TEXT_TOOLS_TAKE = (TEXT,)

TOOLS: tuple[Tool, ...] = (
    Tool(
        "fetch_url",
        "Fetch one public web page (http or https) within size, time and type limits.",
        _schema({"url": _URL}, ["url"]),
        PAGE,
        {
            "url": "the URL asked for",
            "final_url": "the URL after redirects",
            "status_code": "HTTP status",
            "content_type": "media type",
            "charset": "character set",
            "html": "the page's source",
            "bytes": "its size",
            "redirects": "redirects followed",
        },
        fetches=True,
    ),
    Tool(
        "extract_text",
        "Extract the title and main text of a fetched page.",
        _schema({}),
        TEXT,
        {
            "title": "the article's title",
            "text": "its main text",
            "word_count": "words in the text",
            "extractor": "which extractor read it",
            "url": "the page's final URL",
        },
        takes=(PAGE,),
        min_inputs=1,
        max_inputs=1,
    ),
    Tool(
        "summarize",
        "Summarize a text: its own, or the texts of the steps it depends on.",
        _schema(
            {"text": {"type": "string", "description": "a text to summarize when the step depends on none"}}
        ),
        SUMMARY,
        {
            "summary": "the summary, with word count and reading time",
            "sentences": "the sentences chosen",
            "word_count": "words in the text",
            "title": "the text's title",
            "url": "its page's URL",
            "method": "extractive or llm",
        },
        takes=_TEXT_TOOLS_TAKE,
        max_inputs=None,
    ),
    Tool(
        "answer",
        "Answer a question from the texts it depends on, citing the sentences that support it.",
        _schema(
            {
                "question": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_QUESTION_CHARS,
                    "description": "the question to answer",
                }
            },
            ["question"],
        ),
        ANSWER,
        {
            "answer": "the answer",
            "citations": "[{url, quote}]: each quote a sentence of the page at url",
            "missing": "inputs that were not available",
        },
        takes=_TEXT_TOOLS_TAKE,
        min_inputs=1,
        max_inputs=None,
    ),
    Tool(
        "compare",
        "Compare several texts: the key points of each, what they share and where they differ.",
        _schema({}),
        COMPARISON,
        {"summary": "the comparison as text", "missing": "inputs that were not available"},
        takes=_TEXT_TOOLS_TAKE,
        min_inputs=2,
        max_inputs=None,
    ),
    Tool(
        "combine",
        "Put the results of several steps together, one section per source, in order.",
        _schema({}),
        REPORT,
        {
            "summary": "the sections as one text",
            "sections": "[{step_id, title, url, text}]",
            "missing": "inputs that were not available",
        },
        takes=(SUMMARY, ANSWER, COMPARISON, TEXT),
        min_inputs=1,
        max_inputs=None,
    ),
    Tool(
        "echo",
        "Return its text unchanged (benchmarks and liveness checks).",
        _schema({"text": {"type": "string"}}),
        TEXT,
        {"text": "the text"},
        listed=False,
    ),
    Tool(
        "replan",
        "Let the planning model add steps once, after the branches before it completed.",
        _schema({"request": {"type": "string"}, "plan": {"type": "array", "items": {"type": "object"}}}),
        PLAN,
        {"added": "the steps it added", "note": "why none were added, when so"},
        takes=(PAGE, TEXT, SUMMARY, ANSWER, COMPARISON),
        max_inputs=None,
        listed=False,
    ),
)

BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}


def get(name: str) -> Tool | None:
    return BY_NAME.get(name)


def listed() -> list[Tool]:
    """The tools people and planning models see."""
    return [t for t in TOOLS if t.listed]


@cache
def validator(name: str) -> Draft202012Validator:
    # imported at first use: a worker validates only a model's re-plan, and jsonschema with
    # its dependencies is 3 MB of every process that imports it
    from jsonschema import Draft202012Validator

    return Draft202012Validator(BY_NAME[name].parameters)


@dataclass(frozen=True)
class ParamProblem:
    path: str  # "url", "" for the object itself
    message: str


def check_params(name: str, params: object) -> list[ParamProblem]:
    """What is wrong with a step's params (empty when they are valid)."""
    found = sorted(validator(name).iter_errors(params), key=lambda e: list(e.absolute_path))
    return [ParamProblem(".".join(str(p) for p in e.absolute_path), e.message) for e in found]


@cache
def catalogue() -> list[dict[str, Any]]:
    """The registry as GET /tools lists it."""
    return [t.public() for t in listed()]
