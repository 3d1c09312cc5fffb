"""What was measured: one compact record per request, and summaries per model.

Definitions follow ../shared/design/metrics.md. Times are seconds (floats).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ometer_tui.core.bench.workloads.record import LoadStamp

TokensSource = Literal["usage", "chunks", "none"]
#: Which kind of generated output came first in a run.
FirstOutput = Literal["content", "reasoning", "tool_call"]

#: Counts among the server timings: held as ints when whole (small ones are shared).
_COUNT_NAMES = frozenset({"eval_count", "prompt_eval_count", "cache_n", "prompt_n", "predicted_n"})


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
    """One request ("run"). Kept small: no per-chunk lists (the inter-token gaps as one
    packed array of 4-byte integers), text only if asked for."""

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
    clock: str = "loop"  # what stamped the chunks: "kernel" or "loop" (metrics.md, Clocks)
    text: str | None = None
    cost_usd: float | None = None
    # stream shape (added after the fields above, so CSV columns keep their places)
    #: ``"content"``, ``"reasoning"`` or ``"tool_call"``: the first output that arrived
    first_output: FirstOutput | None = None
    #: reads from the socket that carried token chunks
    arrivals: int | None = None
    #: output tokens / arrivals (1 for a server that streams token by token)
    tokens_per_arrival: float | None = None
    #: too few reads for a rate to mean anything (a buffering proxy): no decode rate
    buffered: bool = False
    #: one whole JSON body answered the streamed request: no TTFT
    not_streamed: bool = False
    #: a load's figures for this request (workloads.record): intended send time, lengths
    load: LoadStamp | None = None
    #: generation parameters the server rejected; the request was sent without them
    dropped_params: tuple[str, ...] = ()
    #: the prompt was truncated to fit the context window (what was cut, in words)
    prompt_fit: str | None = None
    #: every inter-token gap of the run, in whole microseconds (``array('i')``, 4 bytes
    #: a gap): the gaps between consecutive *arrivals* (reads that carried token chunks;
    #: chunks of one read have no measured gap of their own). ``None`` when the run has
    #: fewer than 2 arrivals, is buffered, or comes from an export that did not keep
    #: them. Over :data:`MAX_KEPT_GAPS` gaps, every k-th is kept (``arrivals - 1`` says
    #: how many there were). See ``metrics.kept_gaps``.
    itl_gaps_us: array[int] | None = None
    #: what stamped the send: "kernel" (the kernel's transmit stamp of the request's
    #: last byte) or "loop" (the write call; records from before it say so too)
    send_clock: str = "loop"

    def gaps_s(self) -> list[float]:
        """The kept inter-token gaps in seconds (empty when none were kept)."""
        gaps = self.itl_gaps_us
        return [] if gaps is None else [g / 1e6 for g in gaps]

    @property
    def gaps_sampled(self) -> bool:
        """More gaps were measured than kept (a long answer: every k-th is kept)."""
        gaps = self.itl_gaps_us
        return gaps is not None and self.arrivals is not None and len(gaps) < self.arrivals - 1


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ServerTimings) if f.name != "extra")

#: A run keeps at most this many inter-token gaps (8 KiB): a longer answer keeps every
#: k-th gap (k = ceil(gaps / MAX_KEPT_GAPS)), still true gaps in their order, so
#: 10,000 runs stay under 85 MB whatever their length.
MAX_KEPT_GAPS = 2048


#: p90 and p99 need at least this many values; below, a summary shows the median and
#: the range (min..max), which are values of the data, not pretended percentiles.
MIN_N_FOR_PERCENTILES = 5

#: The figures of :class:`Stats` that :meth:`Stats.shown` knows.
SHOWN_FIGURES = frozenset({"mean", "p50", "median", "p90", "p99", "min", "max", "stdev"})


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary statistics of one metric over the measured runs that have it.

    Every figure rests on ``n`` values. All are computed (the JSON export keeps them
    with their ``n``); what a report shows follows :meth:`shown`: the median and the
    range at any n, the spread (stdev) from 2, p90 and p99 from
    :data:`MIN_N_FOR_PERCENTILES`.
    """

    n: int
    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    stdev: float
    values: tuple[float, ...] = ()  # kept when n < 5, to show values rather than pctiles

    @property
    def median(self) -> float:
        return self.p50

    @property
    def has_percentiles(self) -> bool:
        """p90 and p99 rest on enough values to be shown."""
        return self.n >= MIN_N_FOR_PERCENTILES

    def shown(self, figure: str) -> float | None:
        """``figure`` (``mean``, ``p50``/``median``, ``p90``, ``p99``, ``min``, ``max``,
        ``stdev``) as a report shows it, or ``None`` when ``n`` is too small for it."""
        if figure not in SHOWN_FIGURES:
            raise ValueError(f"unknown figure {figure!r}")
        if figure in ("p90", "p99") and not self.has_percentiles:
            return None
        if figure == "stdev" and self.n < 2:
            return None
        value: float = getattr(self, "p50" if figure == "median" else figure)
        return value


class LoadFigures(Protocol):
    """A load's per-model figures (``workloads.summary.LoadSummary``; named by what it
    offers so this module does not import the one that imports it)."""

    mode: str  # "open" (timetable) or "closed" (streams)
    offered_rate: float | None  # the timetable's rate, requests/s (open loop)

    def as_dict(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...


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
    buffered_runs: int = 0  # ok measured runs flagged buffered (no decode rate)
    not_streamed_runs: int = 0  # ok measured runs answered with one whole body (no TTFT)
    load: LoadFigures | None = None  # a load's figures (workloads.summary.LoadSummary)
