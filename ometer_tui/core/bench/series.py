"""Chart data from run records: time series, histograms, sweep curves (inter-token gaps:
:mod:`ometer_tui.core.bench.gaps`).

Pure functions over :class:`~ometer_tui.core.bench.records.RunRecord` (no UI, no clock):
the dashboard's live charts and the HTML report draw the same figures.

The time axis is the client's: seconds since the benchmark started (a record's
``started_at_s`` / ``finished_at_s``; telemetry's ``TelemetryRecording.t_s`` is on the
same axis). Buckets are ``[t0 + i*w, t0 + (i+1)*w)`` with a "nice" width ``w``
(:func:`bucket_width`); a series' ``times`` are the buckets' ends.

What each series means (measured runs only; warm-up excluded unless asked):

- **output tokens/s**: each ok run's output tokens spread evenly over its decode window
  (first token to the end of the run; records keep no per-token times), summed per
  bucket and divided by the bucket's width.
- **requests in flight**: the time-weighted mean number of runs between their send and
  their end during the bucket (exact). Live, only finished runs are records: the last
  seconds fill in as the runs still in flight finish.
- **TTFT p50 / p99, rolling**: at each bucket's end ``t``, the percentiles of the TTFT of
  the ok runs sent in ``(t - window, t]``; p99 needs
  :data:`~ometer_tui.core.bench.records.MIN_N_FOR_PERCENTILES` values in the window, p50
  one (``None`` otherwise: a gap in the line, never a made-up value).
- **errors**: failed runs per bucket, by the time they ended.

:func:`run_series` computes them from scratch; :class:`SeriesBuilder` gives the same
figures for a live chart, folding each record once as it arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ometer_tui.core.bench.metrics import percentile
from ometer_tui.core.bench.records import MIN_N_FOR_PERCENTILES, RunRecord
from ometer_tui.core.telemetry.live import TelemetrySnapshot
from ometer_tui.core.telemetry.recording import TelemetryRecording

#: Bucket widths (seconds) the time axis may use, smallest first.
NICE_WIDTHS_S: tuple[float, ...] = (
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
#: Most buckets a time series has by default (a terminal chart is at most ~200 cells).
MAX_BUCKETS = 120
#: Default rolling window of the TTFT percentiles, in buckets (at least 5 s).
ROLLING_BUCKETS = 5
MIN_ROLLING_S = 5.0
#: Histogram bins by default.
HISTOGRAM_BINS = 20


# --------------------------------------------------------------------------- time series


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """One figure per bucket: ``values[i]`` belongs to ``(times[i] - width, times[i]]``;
    ``None`` where the figure has no value (no data in the window)."""

    name: str
    unit: str
    times: tuple[float, ...]
    values: tuple[float | None, ...]

    def points(self) -> list[tuple[float, float]]:
        """The (time, value) pairs that have a value."""
        return [(t, v) for t, v in zip(self.times, self.values, strict=True) if v is not None]

    @property
    def last(self) -> float | None:
        """The latest value there is (``None``: none)."""
        for v in reversed(self.values):
            if v is not None:
                return v
        return None


@dataclass(frozen=True, slots=True)
class RunSeries:
    """The live run's charts, all on one time axis (buckets of ``width_s`` from 0)."""

    width_s: float
    end_s: float
    output_tps: TimeSeries
    in_flight: TimeSeries
    ttft_p50: TimeSeries
    ttft_p99: TimeSeries
    errors: TimeSeries
    window_s: float
    runs: int  # records behind it

    @property
    def times(self) -> tuple[float, ...]:
        return self.output_tps.times


def bucket_width(span_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """The smallest nice width (:data:`NICE_WIDTHS_S`, then whole hours) that covers
    ``span_s`` in at most ``max_buckets`` buckets."""
    if max_buckets < 1:
        raise ValueError("max_buckets must be at least 1")
    need = max(span_s, 0.0) / max_buckets
    for w in NICE_WIDTHS_S:
        if w >= need:
            return w
    return 3600.0 * math.ceil(need / 3600.0)


def _measured(records: Iterable[RunRecord], warmup: bool) -> list[RunRecord]:
    return [r for r in records if warmup or not r.warmup]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _spread(acc: list[float], t0: float, t1: float, amount: float, width: float) -> None:
    """Add ``amount`` spread evenly over ``[t0, t1]`` into buckets of ``width`` from 0
    (all of it in ``t0``'s bucket when the interval is empty)."""
    n = len(acc)
    if n == 0:
        return
    if t1 <= t0:
        acc[min(max(int(t0 // width), 0), n - 1)] += amount
        return
    first = min(max(int(t0 // width), 0), n - 1)
    last = min(max(int(t1 // width), 0), n - 1)
    span = t1 - t0
    for i in range(first, last + 1):
        lo, hi = i * width, (i + 1) * width
        if i == 0:
            lo = min(lo, t0)
        if i == n - 1:
            hi = max(hi, t1)
        share = _overlap(t0, t1, lo, hi) / span
        acc[i] += amount * share


def output_tps_series(
    records: Iterable[RunRecord], width_s: float, n_buckets: int, *, warmup: bool = False
) -> TimeSeries:
    """Output tokens/s per bucket (see the module's notes)."""
    acc = [0.0] * n_buckets
    for r in _measured(records, warmup):
        if not r.ok or not r.output_tokens:
            continue
        first = r.started_at_s + (r.ttft_s if r.ttft_s is not None else 0.0)
        end = r.started_at_s + r.e2e_s if r.e2e_s is not None else r.finished_at_s
        _spread(acc, first, max(first, end), float(r.output_tokens), width_s)
    times = _times(width_s, n_buckets)
    return TimeSeries("output tok/s", "tok/s", times, tuple(v / width_s for v in acc))


def in_flight_series(
    records: Iterable[RunRecord], width_s: float, n_buckets: int, *, warmup: bool = False
) -> TimeSeries:
    """Mean number of requests in flight per bucket (time-weighted; exact)."""
    acc = [0.0] * n_buckets
    for r in _measured(records, warmup):
        if r.finished_at_s > r.started_at_s:
            duration = r.finished_at_s - r.started_at_s
            # a run spreads its duration (in s); divided by the width below -> mean count
            _spread(acc, r.started_at_s, r.finished_at_s, duration, width_s)
    times = _times(width_s, n_buckets)
    return TimeSeries("in flight", "requests", times, tuple(v / width_s for v in acc))


def errors_series(
    records: Iterable[RunRecord], width_s: float, n_buckets: int, *, warmup: bool = False
) -> TimeSeries:
    """Failed runs per bucket, by the time they ended."""
    acc = [0.0] * n_buckets
    for r in _measured(records, warmup):
        if not r.ok:
            _spread(acc, r.finished_at_s, r.finished_at_s, 1.0, width_s)
    return TimeSeries("errors", "runs", _times(width_s, n_buckets), tuple(acc))


def ttft_rolling_series(
    records: Iterable[RunRecord],
    width_s: float,
    n_buckets: int,
    window_s: float,
    *,
    warmup: bool = False,
) -> tuple[TimeSeries, TimeSeries]:
    """(p50, p99) of the TTFT of ok runs sent in ``(t - window_s, t]`` at each bucket's
    end ``t``. p99 is ``None`` below ``MIN_N_FOR_PERCENTILES`` values in the window."""
    sent = sorted(
        (r.started_at_s, r.ttft_s)
        for r in _measured(records, warmup)
        if r.ok and r.ttft_s is not None
    )
    times = _times(width_s, n_buckets)
    p50: list[float | None] = []
    p99: list[float | None] = []
    lo = hi = 0
    for i, t in enumerate(times):
        upto = math.inf if i == n_buckets - 1 else t  # the last bucket takes the rest
        while hi < len(sent) and sent[hi][0] <= upto:
            hi += 1
        while lo < hi and sent[lo][0] <= t - window_s:
            lo += 1
        window = sorted(v for _, v in sent[lo:hi])
        p50.append(percentile(window, 50) if window else None)
        p99.append(percentile(window, 99) if len(window) >= MIN_N_FOR_PERCENTILES else None)
    return (
        TimeSeries("TTFT p50", "s", times, tuple(p50)),
        TimeSeries("TTFT p99", "s", times, tuple(p99)),
    )


def _times(width_s: float, n_buckets: int) -> tuple[float, ...]:
    return tuple((i + 1) * width_s for i in range(n_buckets))


def run_series(
    records: Iterable[RunRecord],
    *,
    end_s: float | None = None,
    max_buckets: int = MAX_BUCKETS,
    window_s: float | None = None,
    warmup: bool = False,
) -> RunSeries:
    """Every time series of the run at once, on buckets from 0 to ``end_s`` (default:
    the last run's end). ``window_s``: the TTFT rolling window (default
    ``max(ROLLING_BUCKETS * width, MIN_ROLLING_S)``)."""
    recs = _measured(records, warmup)
    last = max((r.finished_at_s for r in recs), default=0.0)
    end = max(end_s if end_s is not None else last, 0.0)
    width = bucket_width(end, max_buckets)
    n = max(1, math.ceil(end / width)) if end > 0 else 1
    window = window_s if window_s is not None else max(ROLLING_BUCKETS * width, MIN_ROLLING_S)
    p50, p99 = ttft_rolling_series(recs, width, n, window, warmup=True)
    return RunSeries(
        width_s=width,
        end_s=end,
        output_tps=output_tps_series(recs, width, n, warmup=True),
        in_flight=in_flight_series(recs, width, n, warmup=True),
        ttft_p50=p50,
        ttft_p99=p99,
        errors=errors_series(recs, width, n, warmup=True),
        window_s=window,
        runs=len(recs),
    )


#: The fine buckets a :class:`SeriesBuilder` folds records into: every nice width is a
#: whole number of them.
BASE_S = 0.25


class SeriesBuilder:
    """:func:`run_series`, kept up to date as records arrive, for a live chart.

    Each record is folded once into fine buckets of :data:`BASE_S` (tokens, busy time,
    errors, the TTFTs sent in each); :meth:`series` only sums them into the chart's
    buckets, and recomputes a rolling TTFT percentile only where a new record landed in
    its window. The figures are :func:`run_series`'s (tested equal), at a cost that
    does not grow with the runs already folded (``run_series`` on 100,000 records takes
    seconds of Python; a redraw must not).
    """

    def __init__(self, *, warmup: bool = False) -> None:
        self.warmup = warmup
        self.runs = 0
        self._tokens: list[float] = []
        self._busy: list[float] = []
        self._errors: list[float] = []
        self._ttft: list[list[float]] = []
        self._last = 0.0  # the latest end of a run
        self._touched = 0  # lowest fine bucket a TTFT landed in since the last series()
        self._cache_key: tuple[float, int] | None = None
        self._cache: list[tuple[float | None, float | None]] = []

    def _grow(self, index: int) -> None:
        missing = index + 1 - len(self._tokens)
        if missing > 0:
            self._tokens.extend([0.0] * missing)
            self._busy.extend([0.0] * missing)
            self._errors.extend([0.0] * missing)
            self._ttft.extend([] for _ in range(missing))

    def _spread(self, acc: list[float], t0: float, t1: float, amount: float) -> None:
        first = max(int(t0 // BASE_S), 0)
        if t1 <= t0:
            acc[first] += amount
            return
        last = max(int(t1 // BASE_S), 0)
        if first == last:
            acc[first] += amount
            return
        per_s = amount / (t1 - t0)
        acc[first] += ((first + 1) * BASE_S - t0) * per_s
        for i in range(first + 1, last):
            acc[i] += BASE_S * per_s
        acc[last] += (t1 - last * BASE_S) * per_s

    def add(self, records: Iterable[RunRecord]) -> None:
        """Fold ``records`` (each once: the caller hands over only new ones)."""
        for r in records:
            if r.warmup and not self.warmup:
                continue
            self.runs += 1
            end = max(r.finished_at_s, r.started_at_s)
            self._last = max(self._last, r.finished_at_s)
            self._grow(max(int(end // BASE_S), int(r.started_at_s // BASE_S), 0))
            if r.finished_at_s > r.started_at_s:
                duration = r.finished_at_s - r.started_at_s
                self._spread(self._busy, r.started_at_s, r.finished_at_s, duration)
            if not r.ok:
                self._spread(self._errors, r.finished_at_s, r.finished_at_s, 1.0)
                continue
            if r.output_tokens:
                first = r.started_at_s + (r.ttft_s if r.ttft_s is not None else 0.0)
                last = r.started_at_s + r.e2e_s if r.e2e_s is not None else r.finished_at_s
                last = max(first, last)
                self._grow(max(int(last // BASE_S), 0))
                self._spread(self._tokens, first, last, float(r.output_tokens))
            if r.ttft_s is not None:
                j = max(math.ceil(r.started_at_s / BASE_S) - 1, 0)  # (j*b, (j+1)*b]
                self._grow(j)
                self._ttft[j].append(r.ttft_s)
                self._touched = min(self._touched, j)

    def series(
        self,
        *,
        end_s: float | None = None,
        max_buckets: int = MAX_BUCKETS,
        window_s: float | None = None,
    ) -> RunSeries:
        """The series as :func:`run_series` gives them for the records folded so far
        (``window_s`` is rounded to whole fine buckets)."""
        end = max(end_s if end_s is not None else self._last, 0.0)
        width = bucket_width(end, max_buckets)
        n = max(1, math.ceil(end / width)) if end > 0 else 1
        k = round(width / BASE_S)
        window = window_s if window_s is not None else max(ROLLING_BUCKETS * width, MIN_ROLLING_S)
        wk = max(1, round(window / BASE_S))
        times = _times(width, n)

        def summed(acc: list[float], scale: float) -> tuple[float | None, ...]:
            out = [sum(acc[i * k : (i + 1) * k]) for i in range(n)]
            out[-1] += sum(acc[n * k :])
            return tuple(v / scale for v in out)

        p50, p99 = self._percentiles(n, k, wk)
        return RunSeries(
            width_s=width,
            end_s=end,
            output_tps=TimeSeries("output tok/s", "tok/s", times, summed(self._tokens, width)),
            in_flight=TimeSeries("in flight", "requests", times, summed(self._busy, width)),
            ttft_p50=TimeSeries("TTFT p50", "s", times, p50),
            ttft_p99=TimeSeries("TTFT p99", "s", times, p99),
            errors=TimeSeries("errors", "runs", times, summed(self._errors, 1.0)),
            window_s=wk * BASE_S,
            runs=self.runs,
        )

    def _percentiles(
        self, n: int, k: int, wk: int
    ) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
        key = (k * BASE_S, wk)
        if key != self._cache_key:
            self._cache_key, self._cache = key, []
        cache = self._cache
        touched = self._touched
        self._touched = len(self._ttft)
        out: list[tuple[float | None, float | None]] = []
        for i in range(n):
            hi = (i + 1) * k  # fine buckets [lo, hi) are in the window
            lo = max(hi - wk, 0)
            last = i == n - 1
            if i < len(cache) - 1 and hi <= touched and not last:
                out.append(cache[i])
                continue
            stop = len(self._ttft) if last else hi
            window = sorted(v for j in range(lo, stop) for v in self._ttft[j])
            out.append(
                (
                    percentile(window, 50) if window else None,
                    percentile(window, 99) if len(window) >= MIN_N_FOR_PERCENTILES else None,
                )
            )
        self._cache = out
        return tuple(p for p, _ in out), tuple(q for _, q in out)


# ---------------------------------------------------------------------------- histograms


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of values in bins: ``counts[i]`` in ``[edges[i], edges[i+1])`` (the last
    bin closed). ``above``: values past ``edges[-1]`` (the far tail, left out of the
    bins so it does not squash them); ``n`` counts every value. ``of``: what a value
    is (``runs``, or ``gaps`` for every inter-token gap); ``note``: what a reader must
    know about the values (some left out, a fallback), or empty."""

    name: str
    unit: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    above: int = 0
    of: str = "runs"
    note: str = ""

    @property
    def n(self) -> int:
        return sum(self.counts) + self.above

    def centers(self) -> list[float]:
        return [(a + b) / 2 for a, b in zip(self.edges, self.edges[1:], strict=False)]


def nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above ``raw`` (> 0)."""
    if raw <= 0 or not math.isfinite(raw):
        raise ValueError("a step must be positive and finite")
    exp = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = m * 10.0**exp
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exp + 1)  # pragma: no cover (m = 10 always qualifies)


def bin_edges(lo: float, hi: float, bins: int = HISTOGRAM_BINS) -> tuple[float, ...]:
    """Nice, evenly spaced edges covering ``[lo, hi]`` in at most ``bins`` bins (one
    bin around the value when ``lo == hi``)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        half = nice_step(abs(lo) / 10 if lo else 1e-3) / 2
        return (lo - half, lo + half)
    step = nice_step((hi - lo) / bins)
    while True:
        start = math.floor(lo / step) * step
        count = max(1, math.ceil((hi - start) / step - 1e-9))
        if start + count * step < hi:
            count += 1
        if count <= bins:
            break
        step = nice_step(step * 1.0001)
    if start < 0 <= lo:
        start = 0.0
    return tuple(start + i * step for i in range(count + 1))


def histogram(
    values: Iterable[float | None],
    *,
    name: str = "",
    unit: str = "s",
    bins: int = HISTOGRAM_BINS,
    tail_q: float | None = 99.0,
) -> Histogram:
    """A histogram of the finite values. With ``tail_q`` and at least 20 values the
    bins span the minimum to the ``tail_q`` percentile and the rest count as ``above``
    (a few slow outliers would otherwise put everything in the first bin)."""
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return Histogram(name, unit, (), ())
    hi = data[-1]
    if tail_q is not None and len(data) >= 20:
        hi = percentile(data, tail_q)
    edges = bin_edges(data[0], hi, bins)
    counts = [0] * (len(edges) - 1)
    above = 0
    top = edges[-1]
    step = edges[1] - edges[0]
    for v in data:
        if v > top:
            above += 1
            continue
        i = min(int((v - edges[0]) / step), len(counts) - 1)
        counts[i] += 1
    return Histogram(name, unit, edges, tuple(counts), above)


def _ok_values(records: Iterable[RunRecord], attr: str) -> list[float]:
    out: list[float] = []
    for r in records:
        if r.warmup or not r.ok:
            continue
        value = getattr(r, attr)
        if isinstance(value, int | float):
            out.append(float(value))
    return out


def auto_bins(n: int) -> int:
    """Bins for ``n`` values: about their square root, 5 at least, at most
    :data:`HISTOGRAM_BINS` (20 bins for 5 runs would show 5 bars of 1 and gaps)."""
    return min(HISTOGRAM_BINS, max(5, math.ceil(math.sqrt(n))))


def ttft_histogram(records: Iterable[RunRecord], bins: int | None = None) -> Histogram:
    """TTFT of the ok measured runs (``bins``: default :func:`auto_bins`)."""
    values = _ok_values(records, "ttft_s")
    return histogram(values, name="TTFT", unit="s", bins=bins or auto_bins(len(values)))


# --------------------------------------------------------------------------- sweep curve

OfferedKind = Literal["rate", "concurrency"]


class CurveFigures(Protocol):
    """What a sweep chart reads of one step (of one model). :class:`CurvePoint` has it,
    and so does any step summary with these attributes (a sweep's per-model point):
    hand those over as they are."""

    @property
    def offered(self) -> float: ...

    @property
    def throughput_rps(self) -> float | None: ...

    @property
    def ttft_p50_s(self) -> float | None: ...

    @property
    def ttft_p99_s(self) -> float | None: ...

    @property
    def goodput_rps(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One sweep step as a chart needs it.

    ``offered``: the step's offered load (requests/s for a rate, or a concurrency);
    ``throughput_rps``: achieved ok requests/s (``None``: nothing succeeded);
    ``goodput_rps``: requests/s meeting every SLO (``None``: no SLO set)."""

    offered: float
    throughput_rps: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    goodput_rps: float | None = None


@dataclass(frozen=True, slots=True)
class SweepCurve:
    """A sweep's points sorted by offered load, and what its chart draws."""

    points: tuple[CurveFigures, ...]
    offered_kind: OfferedKind = "rate"
    #: SLO lines on the TTFT chart (``ttft`` SLO, seconds); ``None``: none set
    slo_ttft_s: float | None = None
    #: measured points in the order they arrived (the latest is named in the title)
    arrived: tuple[CurveFigures, ...] = field(default=())

    @property
    def offered_unit(self) -> str:
        return "req/s" if self.offered_kind == "rate" else "concurrent"

    def throughput(self) -> list[tuple[float, float]]:
        """(offered, throughput) pairs of the points that have a throughput."""
        return [(p.offered, p.throughput_rps) for p in self.points if p.throughput_rps is not None]

    def goodput(self) -> list[tuple[float, float]]:
        """(offered, goodput) pairs of the points that have one."""
        return [(p.offered, p.goodput_rps) for p in self.points if p.goodput_rps is not None]

    def ttft_vs_throughput(self, q: Literal[50, 99]) -> list[tuple[float, float]]:
        """(throughput, TTFT p50 or p99) pairs, by throughput."""
        pairs = [(p.throughput_rps, p.ttft_p50_s if q == 50 else p.ttft_p99_s) for p in self.points]
        return sorted((x, y) for x, y in pairs if x is not None and y is not None)

    @property
    def latest(self) -> CurveFigures | None:
        return self.arrived[-1] if self.arrived else None


def sweep_curve(
    points: Sequence[CurveFigures],
    *,
    offered_kind: OfferedKind = "rate",
    slo_ttft_s: float | None = None,
) -> SweepCurve:
    """The curve of ``points`` (in arrival order); drawn by offered load."""
    ordered = tuple(sorted(points, key=lambda p: p.offered))
    return SweepCurve(ordered, offered_kind, slo_ttft_s, tuple(points))


def sweep_curves(
    steps: Iterable[Mapping[str, CurveFigures]],
    *,
    offered_kind: OfferedKind = "rate",
    slo_ttft_s: float | None = None,
) -> dict[str, SweepCurve]:
    """One curve per model from the steps' points in the order they finished (each
    step: model -> its figures, as a sweep's step event carries them)."""
    per_model: dict[str, list[CurveFigures]] = {}
    for step in steps:
        for model, point in step.items():
            per_model.setdefault(model, []).append(point)
    return {
        model: sweep_curve(points, offered_kind=offered_kind, slo_ttft_s=slo_ttft_s)
        for model, points in per_model.items()
    }


# ------------------------------------------------------------------- server telemetry

#: Points kept per telemetry series in a trail (older ones thinned, as the recording does).
TRAIL_POINTS = 1024


@dataclass(frozen=True, slots=True)
class TelemetryPoints:
    """One telemetry series as (time, value) points; its title names the series."""

    key: tuple[str, str, str]  # (source, metric, label)
    unit: str
    times: tuple[float, ...]
    values: tuple[float, ...]

    @property
    def title(self) -> str:
        _source, metric, label = self.key
        name = metric.replace("_", " ")
        return f"{name} [{label}]" if label else name


def telemetry_points(rec: TelemetryRecording) -> tuple[TelemetryPoints, ...]:
    """Every series of a finished recording on the client's time axis (seconds since
    the benchmark started), in the recording's order."""
    out: list[TelemetryPoints] = []
    for s in rec.series.values():
        if not s.points:
            continue
        out.append(
            TelemetryPoints(
                (s.source.value, s.metric, s.label),
                s.unit,
                tuple(rec.t_s(t) for t, _ in s.points),
                tuple(v for _, v in s.points),
            )
        )
    return tuple(out)


class TelemetryTrail:
    """Live telemetry snapshots (each carries the last few points of every series)
    joined into whole series: a point is added once, when its time is past the last
    one kept. Past ``max_points`` a series keeps every other point."""

    def __init__(self, max_points: int = TRAIL_POINTS) -> None:
        self.max_points = max_points
        self._series: dict[tuple[str, str, str], tuple[str, list[float], list[float]]] = {}

    def add(self, snapshot: TelemetrySnapshot) -> bool:
        """Join ``snapshot``'s points; whether any was new."""
        added = False
        for view in snapshot.series:
            _unit, times, values = self._series.setdefault(view.key, (view.unit, [], []))
            last = times[-1] if times else -math.inf
            for t, v in zip(view.times, view.history, strict=False):
                if t > last:
                    times.append(t)
                    values.append(v)
                    last = t
                    added = True
            if len(times) > self.max_points:  # every other point, the latest kept
                keep = len(times) % 2 == 0
                last_t, last_v = times[-1], values[-1]
                del times[1::2], values[1::2]
                if keep:
                    times.append(last_t)
                    values.append(last_v)
        return added

    def clear(self) -> None:
        self._series.clear()

    def points(self) -> tuple[TelemetryPoints, ...]:
        return tuple(
            TelemetryPoints(key, unit, tuple(times), tuple(values))
            for key, (unit, times, values) in self._series.items()
            if times
        )
