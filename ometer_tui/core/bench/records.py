"""What was measured: one compact record per request, and summaries per model.

Definitions follow ../shared/design/metrics.md. Times are seconds (floats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokensSource = Literal["usage", "chunks", "none"]


@dataclass(slots=True)
class RunRecord:
    """One request ("run"). Kept small: no per-chunk lists, text only if asked for."""

    model: str
    pass_index: int  # 1-based; warm-up runs have pass_index 0
    prompt_index: int  # 0-based index into the plan's prompts
    warmup: bool
    ok: bool
    status: int | None = None
    error: str | None = None
    error_kind: str | None = None
    ttft_s: float | None = None
    ttft_visible_s: float | None = None
    e2e_s: float | None = None
    output_tokens: int | None = None
    tokens_source: TokensSource = "none"
    decode_tps: float | None = None
    tpot_s: float | None = None
    itl_mean_s: float | None = None
    itl_p50_s: float | None = None
    itl_p99_s: float | None = None
    server_decode_tps: float | None = None
    prefill_tps: float | None = None
    prompt_tokens: int | None = None
    load_s: float | None = None
    cold: bool = False
    queue_s: float = 0.0
    attempts: int = 1
    incomplete: bool = False
    #: server timings beside the client's (Ollama durations in s; llama.cpp timings)
    server_timings: dict[str, float] | None = None
    #: client-minus-server differences where both clocks measured the same thing
    clock_diff: dict[str, float] | None = None
    # embeddings
    latency_s: float | None = None
    input_tokens: int | None = None
    input_tps: float | None = None
    # bookkeeping
    started_at_s: float = 0.0  # seconds since the benchmark started (sent time)
    finished_at_s: float = 0.0
    text: str | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary statistics of one metric over the measured runs that have it."""

    n: int
    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    stdev: float
    values: tuple[float, ...] = ()  # kept when n < 5, to show values rather than pctiles


@dataclass(slots=True)
class ModelSummary:
    model: str
    runs: int = 0  # measured runs finished (warm-up excluded)
    ok: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Stats] = field(default_factory=dict)
    output_tokens: int = 0
    prompt_tokens: int = 0
    window_s: float | None = None  # wall time from first send to last finish
    request_throughput: float | None = None  # ok requests per second over the window
    output_tps_aggregate: float | None = None  # output tokens per second over the window
    cost_usd: float | None = None
    cold_runs: int = 0
    warmup_runs: int = 0
    tokens_estimated: bool = False  # some runs counted chunks instead of usage
