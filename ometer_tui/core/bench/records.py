"""What was measured: one compact record per request, and summaries per model.

Definitions follow ../shared/design/metrics.md. Times are seconds (floats).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

TokensSource = Literal["usage", "chunks", "none"]

#: Counts among the server timings: held as ints when whole (small ones are shared).
_COUNT_NAMES = frozenset(
    {"eval_count", "prompt_eval_count", "cache_n", "prompt_n", "predicted_n"}
)


@dataclass(frozen=True, slots=True)
class ServerTimings:
    """The server's own timings for one run, without a dict per run.

    Ollama: durations in seconds (converted from ns by the client) and token counts.
    llama.cpp: its ``timings`` object as sent (ms, counts, rates); names it has that are
    not fields here are kept in ``extra``, so nothing the server sent is lost.
    ``as_dict()`` gives back the name -> value mapping (floats) the client observed.
    """

    # Ollama
    load_s: float | None = None
    prompt_eval_s: float | None = None
    eval_s: float | None = None
    total_s: float | None = None
    prompt_eval_count: float | None = None
    eval_count: float | None = None
    # llama.cpp (``timings``)
    cache_n: float | None = None
    prompt_n: float | None = None
    prompt_ms: float | None = None
    prompt_per_token_ms: float | None = None
    prompt_per_second: float | None = None
    predicted_n: float | None = None
    predicted_ms: float | None = None
    predicted_per_token_ms: float | None = None
    predicted_per_second: float | None = None
    #: any other (name, value) the server sent, in its order
    extra: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_mapping(cls, timings: Mapping[str, float]) -> ServerTimings | None:
        """None for no timings; else every name kept, known ones in fields."""
        if not timings:
            return None
        known: dict[str, float] = {}
        extra: list[tuple[str, float]] = []
        for name, value in timings.items():
            if name in _FIELD_NAMES:
                if name in _COUNT_NAMES and float(value).is_integer():
                    value = int(value)
                known[name] = value
            else:
                extra.append((name, value))
        return cls(**known, extra=tuple(extra))

    def as_dict(self) -> dict[str, float]:
        """name -> value (as floats), the fields set and then ``extra``."""
        out: dict[str, float] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if value is not None:
                out[name] = float(value)
        out.update(self.extra)
        return out


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
    #: server timings beside the client's (Ollama durations in s; llama.cpp timings);
    #: the client-minus-server differences are derived: ``metrics.clock_diff(record)``
    server_timings: ServerTimings | None = None
    # embeddings
    latency_s: float | None = None
    input_tokens: int | None = None
    input_tps: float | None = None
    # bookkeeping
    started_at_s: float = 0.0  # seconds since the benchmark started (sent time)
    finished_at_s: float = 0.0
    text: str | None = None
    cost_usd: float | None = None
    #: answered with one whole body: TTFT is "not streamed" (None), never e2e
    not_streamed: bool = False
    #: generation parameters the server rejected; the request was sent without them
    dropped_params: tuple[str, ...] = ()
    #: the prompt was truncated to fit the context window (what was cut, in words)
    prompt_fit: str | None = None


_FIELD_NAMES: tuple[str, ...] = tuple(
    f.name for f in fields(ServerTimings) if f.name != "extra"
)


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
