"""What each chart shows: the core's chart data (``core.bench.series``) as figures.

Pure functions (no widget): a test checks a figure without drawing it. Times are seconds
since the benchmark started; latencies are shown in milliseconds.
"""

from __future__ import annotations

from typing import Literal

from ometer_tui.core.bench.gaps import ItlSequence
from ometer_tui.core.bench.series import (
    Histogram,
    RunSeries,
    SweepCurve,
    TelemetryPoints,
    TimeSeries,
)
from ometer_tui.tui.widgets.chart import Figure, Line, RefLine, points

MS = 1000.0


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _line(series: TimeSeries, label: str, scale: float = 1.0) -> Line:
    xs, ys = points(series.times, series.values)
    return Line(label, xs, tuple(y * scale for y in ys))


def run_figures(rs: RunSeries, *, slo_ttft_s: float | None = None) -> tuple[Figure, ...]:
    """The run's four charts: output tok/s, requests in flight, TTFT p50/p99 (rolling),
    errors; each title carries its latest value."""
    p50, p99 = rs.ttft_p50.last, rs.ttft_p99.last
    ttft_title = (
        f"TTFT ms, last {rs.window_s:g} s · p50 {_fmt(None if p50 is None else p50 * MS)}"
        f" p99 {_fmt(None if p99 is None else p99 * MS)}"
    )
    refs = (RefLine(f"SLO {slo_ttft_s * MS:g} ms", slo_ttft_s * MS),) if slo_ttft_s else ()
    errors = sum(v or 0 for v in rs.errors.values)
    # a line over every bucket (0 where none failed): bars of the few buckets with errors
    # would be drawn as wide as the gaps between them
    error_lines = (_line(rs.errors, "errors"),) if errors else ()
    tps, flight = rs.output_tps, rs.in_flight
    return (
        Figure(f"output tok/s · last {_fmt(tps.last)} · peak {_fmt(_peak(tps))}",
               (_line(tps, "tok/s"),), x_unit="s"),
        Figure(f"requests in flight · last {_fmt(flight.last)} · peak {_fmt(_peak(flight))}",
               (_line(flight, "in flight"),), x_unit="s"),
        Figure(ttft_title, (_line(rs.ttft_p50, "p50", MS), _line(rs.ttft_p99, "p99", MS)), refs,
               x_unit="s"),
        Figure(f"errors per {rs.width_s:g} s · {errors:g} in all", error_lines, empty="no errors",
               x_unit="s", y_counts=True),
    )  # fmt: skip


def _peak(series: TimeSeries) -> float | None:
    return max((v for v in series.values if v is not None), default=None)


def telemetry_figure(series: TelemetryPoints) -> Figure:
    """One server series on the client's time axis."""
    unit = series.unit
    scale = MS if unit == "s" else 1.0
    shown_unit = "ms" if unit == "s" else unit
    last = series.values[-1] * scale if series.values else None
    title = f"server: {series.title} · {_fmt(last, shown_unit)}"
    values = tuple(v * scale for v in series.values)
    whole = all(float(v).is_integer() for v in values)  # requests, slots, models: counts
    return Figure(title, (Line(series.title, series.times, values),), x_unit="s", y_counts=whole)


def sweep_figures(curve: SweepCurve) -> tuple[Figure, Figure]:
    """Throughput (and goodput) against offered load; TTFT p50/p99 against throughput,
    with the TTFT SLO drawn."""
    unit = curve.offered_unit
    through = curve.throughput()
    lines = [Line("throughput", tuple(x for x, _ in through), tuple(y for _, y in through))]
    good = curve.goodput()
    if good:
        lines.append(Line("goodput", tuple(x for x, _ in good), tuple(y for _, y in good)))
    latest = curve.latest
    note = ""
    if latest is not None:
        got = latest.throughput_rps
        note = f" · last {latest.offered:g} {unit} → " + (
            f"{got:.3g} req/s" if got is not None else "none ok"
        )
    first = Figure(f"req/s vs offered ({unit}){note}", tuple(lines), empty="no step yet")
    ttft_lines = []
    qs: tuple[Literal[50], Literal[99]] = (50, 99)
    for q in qs:
        pairs = curve.ttft_vs_throughput(q)
        ttft_lines.append(
            Line(f"TTFT p{q}", tuple(x for x, _ in pairs), tuple(y * MS for _, y in pairs))
        )
    refs = (
        (RefLine(f"SLO {curve.slo_ttft_s * MS:g} ms", curve.slo_ttft_s * MS),)
        if curve.slo_ttft_s
        else ()
    )
    second = Figure("TTFT ms vs req/s", tuple(ttft_lines), refs, empty="no step yet")
    return first, second


def histogram_figure(h: Histogram, *, title: str, scale: float = MS, unit: str = "ms") -> Figure:
    """Bars per bin; the title says n (of what, when not runs), how many values lie past
    the last bin, and the histogram's own note (values left out, a fallback)."""
    if not h.counts:
        return Figure(title, empty="no ok runs yet")
    xs = tuple(c * scale for c in h.centers())
    note = f" · n={h.n}" + ("" if h.of == "runs" else f" {h.of}")
    if h.above:
        note += f" · {h.above} above {h.edges[-1] * scale:.4g} {unit}"
    if h.note:
        note += f" · {h.note}"
    line = Line(h.of, xs, tuple(float(c) for c in h.counts), bars=True)
    return Figure(f"{title} ({unit}){note}", (line,), x_unit=unit, y_counts=True)


def itl_values(seq: ItlSequence) -> tuple[list[float], list[float]]:
    """(mean, p99) gaps per run in ms for sparklines; a run without one reads 0."""
    return (
        [(v or 0.0) * MS for v in seq.mean_s],
        [(v or 0.0) * MS for v in seq.p99_s],
    )
