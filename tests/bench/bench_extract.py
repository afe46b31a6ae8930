"""Throughput of extract and summarize over the 20 fixture pages (not a test).

    .venv/bin/python -m tests.bench.bench_extract [--rounds 3]

Prints, per stage, pages per second and milliseconds per page (mean, median and slowest
page), best of the rounds so a busy machine's noise counts less; then the time to summarize
one long article (three pages' text joined, over 10,000 words).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from agent_common.summarizer import summarize, word_count
from agent_worker.extract import extract, run_readability, run_trafilatura
from tests.bench.figures import record
from tests.shared_data import PAGE_NAMES, page_file

LONG_ARTICLE = ("ietf-1", "wikipedia", "lwn-1")  # joined: one article of over 10,000 words


def timed(fn: Callable[[str], object], inputs: dict[str, str], rounds: int) -> dict[str, float]:
    """Seconds per page, the best of `rounds` runs of each."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, value in inputs.items():
            started = time.perf_counter()
            fn(value)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
    return best


def pages_per_s(seconds: dict[str, float]) -> float:
    return len(seconds) / sum(seconds.values())


def line(stage: str, seconds: dict[str, float]) -> str:
    per_page = [s * 1000 for s in seconds.values()]
    slowest = max(seconds, key=seconds.__getitem__)
    return (
        f"{stage:<24} {pages_per_s(seconds):8.1f} pages/s   "
        f"mean {statistics.mean(per_page):7.1f} ms   median {statistics.median(per_page):7.1f} ms   "
        f"max {max(per_page):7.1f} ms ({slowest})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    pages = {name: page_file(name, "source.html").read_text(encoding="utf-8") for name in PAGE_NAMES}
    texts = {name: extract(html).text for name, html in pages.items()}
    words = sum(word_count(t) for t in texts.values())
    print(
        f"{len(pages)} pages, {sum(len(h) for h in pages.values()) / 1e6:.1f} MB of HTML, "
        f"{words:,} words extracted; best of {rounds} rounds"
    )
    ours = timed(extract, pages, rounds)
    print(line("extract (ours)", ours))
    print(line("  trafilatura alone", timed(run_trafilatura, pages, rounds)))
    print(line("  readability alone", timed(run_readability, pages, rounds)))
    print(line("summarize", timed(summarize, texts, rounds)))
    both = timed(lambda html: summarize(extract(html).text), pages, rounds)
    print(line("extract + summarize", both))
    long_text = "\n\n".join(texts[name] for name in LONG_ARTICLE)
    long_s = timed(summarize, {"long": long_text}, rounds)["long"]
    print(
        f"{'summarize, long article':<24} {long_s * 1000:8.1f} ms for {word_count(long_text):,} words "
        f"({' + '.join(LONG_ARTICLE)})"
    )
    record(
        "extract",
        {
            "extract_pages_per_s": pages_per_s(ours),
            "extract_summarize_pages_per_s": pages_per_s(both),
            "summarize_long_article_ms": long_s * 1000,
        },
    )


if __name__ == "__main__":
    main()
