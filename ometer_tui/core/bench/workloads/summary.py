"""Per-model figures of a load (``ModelSummary.load``): achieved rate, schedule lag,
latency from the intended send time, asked against actual lengths, cache, turns."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ometer_tui.core.bench.metrics import stats_of
from ometer_tui.core.bench.records import LoadFigures, RunRecord, Stats
from ometer_tui.core.bench.workloads.spec import LoadSpec


@dataclass(frozen=True, slots=True)
class TurnFigures:
    turn: int
    n: int
    ttft_p50_s: float | None
    prompt_tokens_mean: float | None


@dataclass(slots=True)
class LoadSummary:
    mode: str  # "open" (timetable) or "closed" (streams)
    offered_rate: float | None  # the timetable's rate, requests/s (open loop)
    achieved_rate: float | None  # requests sent per second over the sending window
    requests_sent: int
    max_in_flight: int
    stop_reason: str | None
    schedule_lag_s: Stats | None = None
    ttft_from_intended_s: Stats | None = None
    e2e_from_intended_s: Stats | None = None
    input_tokens_asked_mean: float | None = None
    input_tokens_actual_mean: float | None = None
    output_tokens_asked_mean: float | None = None
    output_tokens_actual_mean: float | None = None
    cached_tokens_total: int | None = None
    runs_with_cache_hits: int = 0
    first_ttft_s: float | None = None  # the load's first request (a cold prefix cache)
    later_ttft_p50_s: float | None = None  # the others
    token_source: str | None = None  # how synthetic lengths were measured
    turns: list[TurnFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def schedule_lag_p99_s(self) -> float | None:
        """Schedule lag p99 where enough sends back it (n >= 5, as every p99 shown);
        ``None`` for a closed loop (no timetable) or too few sends."""
        lag = self.schedule_lag_s
        return lag.shown("p99") if lag is not None else None

    @property
    def peak_in_flight(self) -> int | None:
        """The most requests in flight at once, known once the model's load has ended
        (``None`` before: the runs still in flight have no record yet)."""
        return self.max_in_flight or None

    def describe(self) -> str:
        """One line: mode, sends, achieved rate, lag, latency from intended, lengths."""
        parts = [f"{self.mode} loop", f"{self.requests_sent} sent"]
        if self.achieved_rate is not None:
            offered = f" of {self.offered_rate:g}" if self.offered_rate else ""
            parts.append(f"{self.achieved_rate:.2f}{offered} req/s")
        lag = self.schedule_lag_s
        if lag is not None:
            parts.append(f"schedule lag p50 {lag.p50 * 1e3:.2f} ms p99 {lag.p99 * 1e3:.2f} ms")
        ttft = self.ttft_from_intended_s
        if ttft is not None:
            parts.append(f"TTFT from intended p50 {ttft.p50 * 1e3:.1f} ms")
        if self.input_tokens_asked_mean is not None:
            actual = self.input_tokens_actual_mean
            parts.append(
                f"input asked {self.input_tokens_asked_mean:.0f} got "
                + ("?" if actual is None else f"{actual:.0f}")
            )
        if self.output_tokens_asked_mean is not None:
            actual = self.output_tokens_actual_mean
            parts.append(
                f"output asked {self.output_tokens_asked_mean:.0f} got "
                + ("?" if actual is None else f"{actual:.0f}")
            )
        if self.cached_tokens_total is not None:
            parts.append(f"cached tokens {self.cached_tokens_total}")
        if self.max_in_flight:  # known once the model's load has ended
            parts.append(f"max in flight {self.max_in_flight}")
        if self.stop_reason:
            parts.append(f"stopped: {self.stop_reason}")
        return ", ".join(parts)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarise_load(
    records: Sequence[RunRecord],
    *,
    mode: str,
    offered_rate: float | None,
    max_in_flight: int,
    stop_reason: str | None,
    token_source: str | None = None,
) -> LoadSummary:
    """The load figures of one model's measured runs (warm-up excluded)."""
    measured = [r for r in records if not r.warmup and r.load is not None]
    ok = [r for r in measured if r.ok]
    sends = sorted(r.started_at_s for r in measured)
    achieved = None
    if len(sends) >= 2 and sends[-1] > sends[0]:
        achieved = (len(sends) - 1) / (sends[-1] - sends[0])
    summary = LoadSummary(
        mode=mode,
        offered_rate=offered_rate,
        achieved_rate=achieved,
        requests_sent=len(measured),
        max_in_flight=max_in_flight,
        stop_reason=stop_reason,
        token_source=token_source,
    )
    stamps = [(r, r.load) for r in measured if r.load is not None]
    summary.schedule_lag_s = stats_of(
        s.schedule_lag_s for _, s in stamps if s.schedule_lag_s is not None
    )
    summary.ttft_from_intended_s = stats_of(
        s.ttft_from_intended_s for r, s in stamps if r.ok and s.ttft_from_intended_s is not None
    )
    summary.e2e_from_intended_s = stats_of(
        s.e2e_from_intended_s for r, s in stamps if r.ok and s.e2e_from_intended_s is not None
    )
    asked_in = [(s.input_tokens_asked, r.prompt_tokens) for r, s in stamps if r.ok]
    summary.input_tokens_asked_mean = _mean([a for a, _ in asked_in if a is not None])
    summary.input_tokens_actual_mean = _mean([b for a, b in asked_in if b is not None])
    asked_out = [(s.output_tokens_asked, r.output_tokens) for r, s in stamps if r.ok]
    summary.output_tokens_asked_mean = _mean([a for a, _ in asked_out if a is not None])
    summary.output_tokens_actual_mean = _mean([b for _, b in asked_out if b is not None])
    cached = [s.cached_tokens for _, s in stamps if s.cached_tokens is not None]
    if cached:
        summary.cached_tokens_total = sum(cached)
        summary.runs_with_cache_hits = sum(1 for c in cached if c > 0)
    in_order = sorted((r for r in ok if r.ttft_s is not None), key=lambda r: r.started_at_s)
    if in_order:
        summary.first_ttft_s = in_order[0].ttft_s
        later = stats_of(r.ttft_s for r in in_order[1:] if r.ttft_s is not None)
        summary.later_ttft_p50_s = later.p50 if later else None
    by_turn: dict[int, list[RunRecord]] = {}
    for r, s in stamps:
        if r.ok:
            by_turn.setdefault(s.turn, []).append(r)
    if len(by_turn) > 1:
        for turn in sorted(by_turn):
            runs = by_turn[turn]
            ttft = stats_of(r.ttft_s for r in runs if r.ttft_s is not None)
            summary.turns.append(
                TurnFigures(
                    turn=turn,
                    n=len(runs),
                    ttft_p50_s=ttft.p50 if ttft else None,
                    prompt_tokens_mean=_mean(
                        [r.prompt_tokens for r in runs if r.prompt_tokens is not None]
                    ),
                )
            )
    return summary


def live_load_summary(
    records: Sequence[RunRecord], spec: LoadSpec | None, final: LoadFigures | None = None
) -> LoadSummary | None:
    """A model's load figures as a screen shows them (the model detail, the results
    table's load columns): the runner's own summary once the model is done (``final``:
    with the most requests in flight and why it stopped), meanwhile the figures of the
    runs finished so far; ``None`` without a load."""
    if isinstance(final, LoadSummary):
        return final
    if spec is None:
        return None
    return summarise_load(
        records,
        mode="open" if spec.arrival is not None else "closed",
        offered_rate=spec.arrival.rate if spec.arrival is not None else None,
        max_in_flight=0,  # not known before the end
        stop_reason=None,
    )
