"""The worker's limits and timings (every one an environment variable)."""

from __future__ import annotations

from pydantic import Field, field_validator

from agent_common.planning.settings import PlanSettings


class WorkerSettings(PlanSettings):
    service_name: str = Field("worker", validation_alias="SERVICE_NAME")
    host: str = "0.0.0.0"  # where /health, /ready and /metrics listen
    metrics_port: int = Field(9100, validation_alias="METRICS_PORT")

    # queue
    queue_read_count: int = Field(32, ge=1)  # messages per XREADGROUP
    queue_block_ms: int = Field(1000, ge=1)  # how long a read waits for new messages
    visibility_timeout_s: float = Field(30.0, gt=0)  # idle this long and a message is claimed again
    max_deliveries: int = Field(5, ge=1)  # then it goes to task_queue:dead
    reclaim_interval_s: float = Field(2.0, gt=0)
    reconcile_interval_s: float = Field(10.0, gt=0)
    reconcile_min_age_s: float = Field(10.0, ge=0)  # a step younger than this is left alone
    queue_metrics_interval_s: float = Field(5.0, gt=0)  # how often the backlog gauges are refreshed
    # a consumer with nothing pending and silent this long belongs to a dead worker
    consumer_prune_idle_s: float = Field(3600.0, gt=0)
    # how often an idle worker that has handled steps since returns freed memory to the system
    idle_trim_interval_s: float = Field(5.0, gt=0)
    # glibc malloc arenas (0: glibc's default of 8 per core); fewer keep an idle worker small
    worker_malloc_arenas: int = Field(2, ge=0)
    shutdown_grace_s: float = Field(25.0, gt=0)  # SIGTERM: finish steps in hand within this
    step_timeout_s: float = Field(120.0, gt=0)
    # a step failing with a transient error (timeout, 5xx) runs at most this often;
    # keep it below max_deliveries so the real error, not the dead letter, is reported
    step_max_attempts: int = Field(3, ge=1)
    # a step retried waits this long, doubled for each attempt made, at most the maximum
    # (and at most the visibility timeout); the reclaim pass rounds it up to its interval
    step_retry_backoff_s: float = Field(1.0, ge=0)
    step_retry_backoff_max_s: float = Field(30.0, ge=0)
    # how often the steps in hand are checked for a task that ended (cancelled, or failed in
    # another branch), to stop them
    halt_check_interval_s: float = Field(0.5, gt=0)

    # "off" lets a step's record skip the wait for its WAL flush (see __main__); "on" to wait
    db_synchronous_commit: str = Field("off", pattern="^(on|off|local|remote_write|remote_apply)$")

    # fetch_url
    fetch_connect_timeout_s: float = Field(5.0, gt=0)
    fetch_read_timeout_s: float = Field(10.0, gt=0)
    fetch_total_timeout_s: float = Field(20.0, gt=0)
    fetch_max_bytes: int = Field(2_000_000, gt=0)
    fetch_max_redirects: int = Field(5, ge=0)
    # how much of an undeclared, non-UTF-8 body the charset detector reads
    fetch_charset_detect_bytes: int = Field(32_768, gt=0)
    # destination ports a fetch may use, comma-separated, or "*" for any; the host:port
    # pairs of FETCH_ALLOWED_HOSTS are exempt
    fetch_allowed_ports: str = "80,443"
    fetch_user_agent: str = "agent-system/0.1 (+https://github.com/agent-system)"

    # summarize
    summary_min_sentences: int = Field(3, ge=1)
    summary_max_sentences: int = Field(5, ge=1)
    reading_words_per_minute: int = Field(200, gt=0)

    @field_validator("fetch_allowed_ports")
    @classmethod
    def _ports(cls, value: str) -> str:
        if value.strip() != "*":
            for part in filter(None, (p.strip() for p in value.split(","))):
                if not part.isdigit() or not 1 <= int(part) <= 65535:
                    raise ValueError(f"not a port number: {part!r} (a list like 80,443, or *)")
        return value

    def allowed_ports(self) -> frozenset[int] | None:
        """The ports fetch_url may connect to; None means any."""
        if self.fetch_allowed_ports.strip() == "*":
            return None
        return frozenset(int(p) for p in self.fetch_allowed_ports.split(",") if p.strip())

    # answer: how many sentences it cites and joins into the answer, and what it looks at
    answer_max_citations: int = Field(3, ge=1, le=20)
    answer_max_sentences: int = Field(2, ge=1, le=10)  # joined into the answer's text
    answer_min_relative_score: float = Field(0.5, gt=0, le=1)  # a further citation's share of the best
    answer_rank_candidates: int = Field(200, ge=1)  # best matches re-ranked by LexRank
    answer_max_sentence_words: int = Field(150, ge=10)  # longer "sentences" (tables, code) are not cited
    # with a model: the text it reads (the most relevant chunks when the sources are longer),
    # the shortest quote it may cite, its answer's length and how long to wait for it
    answer_llm_input_max_chars: int = Field(24_000, ge=1_000)
    answer_llm_chunk_chars: int = Field(2_000, ge=200)
    answer_min_quote_words: int = Field(4, ge=1)
    answer_llm_max_tokens: int = Field(700, ge=64)
    answer_llm_timeout_s: float = Field(60.0, gt=0)

    # compare: key points per text, shared points and terms, and what counts as shared/distinct
    compare_key_points: int = Field(4, ge=1, le=20)
    compare_max_shared: int = Field(4, ge=0, le=20)
    compare_max_terms: int = Field(8, ge=0, le=50)
    compare_candidates: int = Field(150, ge=10)  # most central sentences per text matched
    compare_shared_min_similarity: float = Field(0.3, gt=0, le=1)  # two sentences' cosine to "say the same"
    compare_distinct_max_similarity: float = Field(0.12, ge=0, le=1)  # below it: said by this text only
    compare_llm_input_max_chars: int = Field(24_000, ge=1_000)  # all texts together, split evenly
    compare_llm_max_tokens: int = Field(900, ge=64)
    compare_llm_timeout_s: float = Field(60.0, gt=0)
