"""What the numbers mean: per-run metrics from an observation, and per-model summaries.

Every definition here is the one in ../shared/design/metrics.md; the names match it.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ometer_tui.core.api.base import (
    EmbeddingObservation,
    ErrorKind,
    GenerationObservation,
    RequestError,
)
from ometer_tui.core.bench.plan import Prices
from ometer_tui.core.bench.records import (
    MAX_KEPT_GAPS,
    MIN_N_FOR_PERCENTILES,
    ModelSummary,
    RunRecord,
    ServerTimings,
    Stats,
)

NS = 1e9
#: An Ollama ``load_duration`` at or above this means the model was loaded for this
#: request (cold). Warm requests report a few milliseconds.
COLD_LOAD_THRESHOLD_S = 0.1
#: Below this many values, summaries carry the values themselves beside the statistics,
#: and reports show the median and the range instead of p90 / p99 (``Stats.shown``).
FEW_VALUES = MIN_N_FOR_PERCENTILES

#: The metrics summarised per model, in display order.
SUMMARISED_METRICS: tuple[str, ...] = (
    "ttft_s",
    "ttft_visible_s",
    "e2e_s",
    "decode_tps",
    "server_decode_tps",
    "tpot_s",
    "itl_mean_s",
    "itl_p99_s",
    "tokens_per_arrival",
    "prefill_tps",
    "output_tokens",
    "prompt_tokens",
    "load_s",
    "queue_s",
    "latency_s",
    "input_tps",
)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def stats_of(values: Iterable[float]) -> Stats | None:
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return None
    n = len(data)
    return Stats(
        n=n,
        mean=statistics.fmean(data),
        p50=percentile(data, 50),
        p90=percentile(data, 90),
        p99=percentile(data, 99),
        min=data[0],
        max=data[-1],
        stdev=statistics.stdev(data) if n >= 2 else 0.0,
        values=tuple(data) if n < FEW_VALUES else (),
    )


def _seconds(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else (end_ns - start_ns) / NS


def _gaps_summary(times_ns: Sequence[int]) -> tuple[float | None, float | None, float | None]:
    """(mean, p50, p99) of the gaps between consecutive token chunks, in seconds."""
    if len(times_ns) < 2:
        return None, None, None
    gaps = sorted((b - a) / NS for a, b in itertools.pairwise(times_ns))
    return statistics.fmean(gaps), percentile(gaps, 50), percentile(gaps, 99)


def _sent_at(sent_ns: int, finished_ns: int | None) -> int:
    """When a run counts as sent: its stamp, or (nothing was sent: a config error) when
    it ended, else now, so a run that never left never lands before the benchmark start
    (a zero stamp would stretch the throughput window to the machine's uptime)."""
    return sent_ns or finished_ns or time.perf_counter_ns()


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class RunContext:
    """Where a run sits in the plan and what it cost to send, beside its observation."""

    model: str
    pass_index: int
    prompt_index: int
    warmup: bool
    attempts: int
    queue_s: float
    bench_start_ns: int
    prices: Prices | None = None
    keep_text: bool = False


#: A decode rate needs token chunks from at least this many reads ...
MIN_RATE_ARRIVALS = 3
#: ... spread over at least this long, once reads carry 2 or more tokens each on
#: average; otherwise the run is *buffered* (see :func:`stream_shape`).
MIN_RATE_WINDOW_S = 0.010


def arrivals(times_ns: Sequence[int]) -> tuple[list[int], list[int]]:
    """(stamp of each arrival, token chunks it carried), from the chunks' stamps in
    order: the chunks one read completed share its stamp."""
    stamps: list[int] = []
    counts: list[int] = []
    last = None
    for t in times_ns:
        if t == last:
            counts[-1] += 1
        else:
            stamps.append(t)
            counts.append(1)
            last = t
    return stamps, counts


#: The largest gap a 4-byte integer holds (about 35.8 minutes, in microseconds).
_GAP_US_MAX = 2**31 - 1


def kept_gaps(times_ns: Sequence[int], cap: int = MAX_KEPT_GAPS) -> array[int] | None:
    """The run's inter-token gaps to keep, in whole microseconds: the differences between
    consecutive *arrivals* (reads that carried token chunks; see :func:`arrivals`).

    The chunks one read completed share its stamp: the time between them was not
    measured, so they add no gap (a zero would be a fake one). For a server that streams
    token by token these are the gaps between consecutive chunks. ``None`` below 2
    arrivals. Over ``cap`` gaps, every k-th (k = ceil(gaps / cap)) is kept, in order.
    """
    stamps, _ = arrivals(times_ns)
    if len(stamps) < 2:
        return None
    gaps = [round((b - a) / 1000) for a, b in itertools.pairwise(stamps)]
    if len(gaps) > cap:
        gaps = gaps[:: math.ceil(len(gaps) / cap)]
    if max(gaps) > _GAP_US_MAX or min(gaps) < -_GAP_US_MAX:  # a 36-minute gap: held at the limit
        gaps = [min(max(g, -_GAP_US_MAX), _GAP_US_MAX) for g in gaps]
    return array("i", gaps)


def stream_shape(
    times_ns: Sequence[int], tokens: int | None
) -> tuple[int, float | None, float | None, bool]:
    """(arrivals, decode_tps, tokens_per_arrival, buffered) from the token chunks'
    arrival stamps (``times_ns``) and the run's output token count.

    ``decode_tps`` = tokens that came after the first arrival / (last arrival - first
    arrival): a server that writes k tokens every k/r seconds reads r, where
    ``(n - 1) / (e2e - ttft)`` gave the first burst's extra tokens no time. When the
    server's usage count differs from the chunk count (several tokens per chunk), the
    tokens after the first arrival are its chunks' share of the usage:
    ``usage * (chunks - first arrival's chunks) / chunks``.

    *Buffered*: reads carried 2 or more tokens each on average, and there were fewer
    than :data:`MIN_RATE_ARRIVALS` of them or they spanned less than
    :data:`MIN_RATE_WINDOW_S` (a proxy that holds the response and lets it go in one or
    two reads). Then no rate is given: 64 tokens in two reads 2 ms apart are not
    31,500 tokens/s. A one-token answer, or a short answer streamed token by token, is
    not buffered.
    """
    stamps, counts = arrivals(times_ns)
    n = len(stamps)
    chunks = len(times_ns)
    if n == 0 or tokens is None or tokens <= 0:
        return n, None, None, False
    per_arrival = tokens / n
    window = (stamps[-1] - stamps[0]) / NS
    buffered = per_arrival >= 2 and (n < MIN_RATE_ARRIVALS or window < MIN_RATE_WINDOW_S)
    if buffered or n < 2 or window <= 0:
        return n, None, per_arrival, buffered
    after_first = tokens * (chunks - counts[0]) / chunks
    return n, after_first / window, per_arrival, False


def stream_note(record: RunRecord) -> str | None:
    """Why a run has no TTFT or no decode rate although it succeeded, in words."""
    if record.not_streamed:
        return "not streamed"
    if record.buffered:
        reads = record.arrivals or 0
        return (
            f"buffered ({record.output_tokens} tokens in {reads} read{'' if reads == 1 else 's'})"
        )
    return None


def summary_stream_note(summary: ModelSummary) -> str | None:
    """The stream notes of a model's ok runs (buffered, not streamed), in words."""
    parts = []
    if summary.buffered_runs:
        parts.append(f"buffered in {summary.buffered_runs} of {summary.ok} ok runs")
    if summary.not_streamed_runs:
        parts.append(f"not streamed in {summary.not_streamed_runs} of {summary.ok} ok runs")
    return "; ".join(parts) or None


def generation_record(obs: GenerationObservation, ctx: RunContext) -> RunRecord:
    """Reduce one streamed request to its record (no per-chunk lists survive)."""
    sent = obs.sent_ns
    ttft = _seconds(sent, obs.first_token_ns)
    e2e = _seconds(sent, obs.last_token_ns)
    if obs.output_tokens is not None:
        tokens: int | None = obs.output_tokens
        source = "usage"
    elif obs.token_chunks:
        tokens, source = obs.token_chunks, "chunks"
    else:
        no_count = obs.error is not None or obs.not_streamed
        tokens, source = (None if no_count else 0), "none"
    n_arrivals, decode_tps, per_arrival, buffered = stream_shape(obs.token_times_ns, tokens)
    tpot = None
    if not buffered and tokens is not None and tokens >= 2 and ttft is not None and e2e is not None:
        decode_window = e2e - ttft
        if decode_window > 0:
            tpot = decode_window / (tokens - 1)
    itl_mean, itl_p50, itl_p99 = (
        (None, None, None) if buffered else _gaps_summary(obs.token_times_ns)
    )
    gaps = None if buffered else kept_gaps(obs.token_times_ns)

    timings = ServerTimings.from_mapping(obs.server_timings)
    server_decode_tps = prefill_tps = load_s = None
    if timings is not None and timings.eval_s is not None:  # Ollama
        server_decode_tps = _ratio(timings.eval_count, timings.eval_s)
        prefill_tps = _ratio(timings.prompt_eval_count, timings.prompt_eval_s)
        load_s = timings.load_s
    elif timings is not None and timings.predicted_per_second is not None:  # llama.cpp
        server_decode_tps = timings.predicted_per_second
        prefill_tps = timings.prompt_per_second

    error = obs.error
    answered = obs.not_streamed and obs.last_token_ns is not None  # a whole body
    if error is None and obs.first_token_ns is None and obs.first_output is None and not answered:
        if obs.output_tokens:
            # never "no token" beside a usage count: the output came in a form not read
            error = RequestError(
                ErrorKind.PROTOCOL,
                f"the server counted {obs.output_tokens} output tokens but no chunk carried "
                "content, reasoning or a tool call",
                before_first_byte=False,
            )
        else:
            # A stream that completes without a token has no TTFT: counting it as a good
            # run would hide e.g. a server that interrupts a request when another arrives.
            error = RequestError(
                ErrorKind.EMPTY,
                "the server completed the response without generating any token",
                before_first_byte=False,
            )
    ok = error is None
    record = RunRecord(
        model=ctx.model,
        pass_index=ctx.pass_index,
        prompt_index=ctx.prompt_index,
        warmup=ctx.warmup,
        ok=ok,
        status=obs.status,
        error=None if error is None else str(error),
        error_kind=None if error is None else error.kind.value,
        ttft_s=ttft,
        ttft_visible_s=_seconds(sent, obs.first_visible_ns),
        e2e_s=e2e,
        output_tokens=tokens,
        tokens_source=source,  # type: ignore[arg-type]
        decode_tps=decode_tps,
        tpot_s=tpot,
        itl_mean_s=itl_mean,
        itl_p50_s=itl_p50,
        itl_p99_s=itl_p99,
        server_decode_tps=server_decode_tps,
        prefill_tps=prefill_tps,
        prompt_tokens=obs.prompt_tokens,
        load_s=load_s,
        cold=load_s is not None and load_s >= COLD_LOAD_THRESHOLD_S,
        queue_s=ctx.queue_s,
        attempts=ctx.attempts,
        incomplete=error is not None and error.kind.value == "incomplete",
        server_timings=timings,
        started_at_s=(_sent_at(sent, obs.finished_ns) - ctx.bench_start_ns) / NS,
        finished_at_s=((obs.finished_ns or _sent_at(sent, None)) - ctx.bench_start_ns) / NS,
        clock=obs.clock,
        text=obs.text if ctx.keep_text and obs.text else None,
        first_output=obs.first_output,
        arrivals=n_arrivals or None,
        tokens_per_arrival=per_arrival,
        buffered=buffered,
        not_streamed=obs.not_streamed,
        dropped_params=obs.dropped_params,
        prompt_fit=obs.prompt_fit,
        itl_gaps_us=gaps,
    )
    record.cost_usd = cost_of(record.prompt_tokens, record.output_tokens, ctx.prices)
    return record


def clock_diff(record: RunRecord) -> dict[str, float] | None:
    """Client minus server, for what both clocks measured. Shown, not hidden.

    Derived from the record (its TTFT, e2e, output tokens and server timings) when
    asked for, rather than stored on every record.
    """
    timings, ttft, e2e = record.server_timings, record.ttft_s, record.e2e_s
    if timings is None or ttft is None or e2e is None:
        return None
    tokens = record.output_tokens
    diff: dict[str, float] = {}
    if timings.eval_s is not None:
        # Ollama: time to first token ~ load + prompt eval (+ the first token's eval).
        server_ttft = (timings.load_s or 0.0) + (timings.prompt_eval_s or 0.0)
        diff["ttft_minus_server_prefill_s"] = ttft - server_ttft
        if tokens is not None and tokens >= 2 and timings.eval_s:
            diff["decode_minus_server_eval_s"] = (e2e - ttft) - timings.eval_s * (
                (tokens - 1) / tokens
            )
    elif timings.predicted_ms is not None:
        prompt_ms = timings.prompt_ms or 0.0
        diff["ttft_minus_server_prompt_s"] = ttft - prompt_ms / 1000.0
        diff["e2e_minus_server_total_s"] = e2e - (prompt_ms + timings.predicted_ms) / 1000.0
    return diff or None


def embedding_record(obs: EmbeddingObservation, ctx: RunContext) -> RunRecord:
    latency = _seconds(obs.sent_ns, obs.finished_ns) if obs.error is None else None
    error = obs.error
    record = RunRecord(
        model=ctx.model,
        pass_index=ctx.pass_index,
        prompt_index=ctx.prompt_index,
        warmup=ctx.warmup,
        ok=error is None,
        status=obs.status,
        error=None if error is None else str(error),
        error_kind=None if error is None else error.kind.value,
        e2e_s=latency,
        latency_s=latency,
        input_tokens=obs.input_tokens,
        prompt_tokens=obs.input_tokens,
        input_tps=_ratio(None if obs.input_tokens is None else float(obs.input_tokens), latency),
        queue_s=ctx.queue_s,
        attempts=ctx.attempts,
        started_at_s=(_sent_at(obs.sent_ns, obs.finished_ns) - ctx.bench_start_ns) / NS,
        finished_at_s=((obs.finished_ns or _sent_at(obs.sent_ns, None)) - ctx.bench_start_ns) / NS,
    )
    record.cost_usd = cost_of(record.prompt_tokens, None, ctx.prices)
    return record


def cost_of(
    prompt_tokens: int | None, output_tokens: int | None, prices: Prices | None
) -> float | None:
    if prices is None:
        return None
    return (
        (prompt_tokens or 0) * prices.input_per_million
        + (output_tokens or 0) * prices.output_per_million
    ) / 1e6


def summarise(
    model: str, records: Sequence[RunRecord], prices: Prices | None = None
) -> ModelSummary:
    """Aggregate the measured (non-warm-up) runs of one model."""
    measured = [r for r in records if not r.warmup]
    ok_runs = [r for r in measured if r.ok]
    summary = ModelSummary(
        model=model,
        runs=len(measured),
        ok=len(ok_runs),
        errors=len(measured) - len(ok_runs),
        warmup_runs=len(records) - len(measured),
    )
    for r in measured:
        if not r.ok:
            kind = r.error_kind or "unknown"
            summary.errors_by_kind[kind] = summary.errors_by_kind.get(kind, 0) + 1
    for name in SUMMARISED_METRICS:
        s = stats_of(v for r in ok_runs if (v := getattr(r, name)) is not None)
        if s is not None:
            summary.metrics[name] = s
    summary.output_tokens = sum(r.output_tokens or 0 for r in ok_runs)
    summary.prompt_tokens = sum(r.prompt_tokens or 0 for r in ok_runs)
    summary.cold_runs = sum(1 for r in measured if r.cold)
    summary.tokens_estimated = any(r.tokens_source == "chunks" for r in ok_runs)
    summary.buffered_runs = sum(1 for r in ok_runs if r.buffered)
    summary.not_streamed_runs = sum(1 for r in ok_runs if r.not_streamed)
    if measured:
        window = max(r.finished_at_s for r in measured) - min(r.started_at_s for r in measured)
        if window > 0:
            summary.window_s = window
            summary.request_throughput = len(ok_runs) / window
            summary.output_tps_aggregate = summary.output_tokens / window
    if prices is not None:
        summary.cost_usd = sum(r.cost_usd or 0.0 for r in measured)
    return summary
