"""The report's chart sections: distributions per model, time series over the run, the
server's telemetry series. Each returns an HTML fragment (escaped, inline SVG).

The figures come from :mod:`ometer_tui.core.bench.series` (the same rules as the
dashboard's live charts); this module only chooses units, titles and text alternatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from statistics import median
from typing import Any

from ometer_tui.core.bench.gaps import itl_histogram
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.series import (
    Histogram,
    RunSeries,
    TimeSeries,
    run_series,
    ttft_histogram,
)
from ometer_tui.core.report.svg import Chart, Series, render_chart

__all__ = [
    "ModelRecords",
    "Scale",
    "distribution_section",
    "esc",
    "figure",
    "finite_number",
    "scale_for",
    "telemetry_charts",
    "time_series_section",
]


def esc(value: object) -> str:
    """Text for HTML: control characters as spaces, ``<``, ``&`` and quotes escaped."""
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)
    return escape(text, quote=True)


@dataclass(frozen=True, slots=True)
class ModelRecords:
    """One model's runs and its place in the colour cycle."""

    name: str
    colour: int
    records: Sequence[RunRecord]


@dataclass(frozen=True, slots=True)
class Scale:
    """Values are multiplied by ``factor`` and shown in ``unit``."""

    factor: float
    unit: str

    def __call__(self, value: float) -> float:
        return value * self.factor

    def text(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "–"
        shown = value * self.factor
        # three significant digits, but a figure of 1000 or more in full (2,000 ms, not
        # 2e+03 ms)
        number = f"{shown:,.0f}" if abs(shown) >= 1000 else f"{shown:.3g}"
        return f"{number} {self.unit}".rstrip()


def scale_for(unit: str, largest: float) -> Scale:
    """A readable unit for values up to ``largest`` in ``unit``: seconds below 10 s in
    ms, bytes in MiB or GiB, a fraction-free rest as is."""
    if unit == "s":
        return Scale(1000.0, "ms") if abs(largest) < 10 else Scale(1.0, "s")
    if unit == "bytes":
        if abs(largest) >= 2**30:
            return Scale(1 / 2**30, "GiB")
        if abs(largest) >= 2**20:
            return Scale(1 / 2**20, "MiB")
        return Scale(1.0, "bytes")
    return Scale(1.0, unit)


def _tick(value: float) -> str:
    return f"{value:.6g}"


def figure(chart: Chart, note: str = "") -> str:
    """A chart in a ``<figure>`` whose caption repeats the title (and an optional note)."""
    caption = esc(chart.title) + (f' <span class="note">({esc(note)})</span>' if note else "")
    return f"<figure><figcaption>{caption}</figcaption>{render_chart(chart)}</figure>"


# --------------------------------------------------------------------- distributions


def _hist_chart(
    hist: Histogram, title: str, what: str, model: ModelRecords
) -> tuple[Chart | None, str]:
    """The histogram's chart and a note on the values left out; ``None`` without values."""
    if not hist.counts:
        return None, ""
    scale = scale_for(hist.unit, hist.edges[-1])
    width = (hist.edges[1] - hist.edges[0]) * scale.factor
    bars = [(scale(e), float(c)) for e, c in zip(hist.edges, hist.counts, strict=False)]
    notes = [f"{hist.above} above {scale.text(hist.edges[-1])} not drawn"] if hist.above else []
    values_note = "; ".join([*notes, *([hist.note] if hist.note else [])])
    desc = (
        f"Histogram of {what}: {hist.n} {hist.of} in {len(hist.counts)} bins of "
        f"{width:.3g} {scale.unit} from {scale.text(hist.edges[0])} to "
        f"{scale.text(hist.edges[-1])}; the fullest bin holds {max(hist.counts)}."
        + (f" {values_note}." if values_note else "")
    )
    chart = Chart(
        title=title,
        desc=desc,
        series=(Series(model.name, bars, kind="bars", width=width, colour=model.colour),),
        x_label=f"{what} ({scale.unit})",
        y_label=hist.of,
        x_format=_tick,
        y_format=_tick,
        x_range=(scale(hist.edges[0]), scale(hist.edges[-1])),
        width=280,
        height=180,
        y_integer=True,
        legend=False,
    )
    return chart, values_note


def distribution_section(models: Sequence[ModelRecords]) -> str:
    """Per model, the TTFT histogram (one value per run) and the histogram of every
    inter-token gap of its runs, side by side."""
    parts = [
        '<section id="distributions"><h2>Distributions per model</h2>',
        '<p class="note">Measured ok runs only (warm-up excluded). Inter-token gaps: '
        "every gap between reads that carried tokens, of every run (chunks that came in "
        "one read have no gap of their own); a result saved before gaps were kept has "
        "each run's mean gap instead, and says so.</p>",
        '<div class="models">',
    ]
    for m in models:
        parts.append(f'<div class="model-charts"><h3>{esc(m.name)}</h3>')
        ok = [r for r in m.records if r.ok and not r.warmup]
        if not ok:
            parts.append('<p class="none">No ok run: nothing to draw.</p></div>')
            continue
        parts.append('<div class="grid">')
        for hist, title, what in (
            (ttft_histogram(m.records), f"TTFT, {m.name}", "TTFT"),
            _itl(m),
        ):
            chart, note = _hist_chart(hist, title, what, m)
            if chart is None:
                parts.append(f'<p class="none">{esc(title)}: no value (no ok run has one).</p>')
            else:
                parts.append(figure(chart, note))
        parts.append("</div></div>")
    parts.append("</div></section>")
    return "".join(parts)


def _itl(m: ModelRecords) -> tuple[Histogram, str, str]:
    """The gap histogram, its title and what its values are: every gap, or (no run
    kept its gaps: an older result) each run's mean gap, which its note says."""
    hist = itl_histogram(m.records)
    what = "inter-token gap" if hist.of == "gaps" else "mean inter-token gap"
    return hist, f"Inter-token gap, {m.name}", what


# --------------------------------------------------------------------- time series


def _describe(ts: TimeSeries, fmt: Callable[[float], str], width_s: float) -> str:
    values = [v for v in ts.values if v is not None]
    if not values:
        return f"{ts.name}: no value over the run."
    peak_at = max((t for t, v in ts.points() if v == max(values)), default=0.0)
    return (
        f"{ts.name} in {width_s:g} s buckets over {len(ts.times) * width_s:g} s: peak "
        f"{fmt(max(values))} (bucket ending at {peak_at:g} s), median {fmt(median(values))}."
    )


def _line(
    name: str, ts: TimeSeries, scale: Scale, colour: int, step_s: float | None = None
) -> Series:
    """A line through the series' points; with ``step_s``, steps: each value held over its
    bucket ``(t - step_s, t]`` (a series' times are its buckets' ends)."""
    points = [(t, scale(v)) for t, v in ts.points()]
    if step_s is None or not points:
        return Series(name, points, colour=colour)
    held = [(t - step_s, v) for t, v in points] + [points[-1]]
    return Series(name, held, kind="step", colour=colour)


def time_series_section(
    models: Sequence[ModelRecords],
    end_s: float | None = None,
    step_marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Output tokens/s, requests in flight, TTFT over time and errors, all models
    together, on the client's time axis (seconds since the start). ``step_marks``:
    (start, label) of each sweep step, drawn as vertical lines."""
    records = [r for m in models for r in m.records]
    measured = [r for r in records if not r.warmup]
    parts = ['<section id="time-series"><h2>Over the run</h2>']
    if not measured:
        parts.append('<p class="none">No measured run: nothing to draw.</p></section>')
        return "".join(parts)
    rs = run_series(records, end_s=end_s)
    x_range = (0.0, rs.end_s or rs.width_s)
    parts.append(
        f'<p class="note">All models together, in buckets of {rs.width_s:g} s (seconds '
        f"since the benchmark started). Output tokens are spread evenly over each run's "
        f"decode time; in flight is the time-weighted mean; TTFT p50/p99 over a rolling "
        f'{rs.window_s:g} s window, each dot one run.</p><div class="grid">'
    )
    count = Scale(1.0, "")
    tps = Chart(
        title="Output tokens/s",
        desc=_describe(rs.output_tps, lambda v: f"{v:.1f} tok/s", rs.width_s),
        series=(_line("output tok/s", rs.output_tps, count, 0, rs.width_s),),
        x_label="time (s)",
        y_label="tok/s",
        x_format=_tick,
        y_format=_tick,
        x_range=x_range,
        x_marks=step_marks,
    )
    flight = Chart(
        title="Requests in flight",
        desc=_describe(rs.in_flight, lambda v: f"{v:.1f}", rs.width_s),
        series=(_line("in flight", rs.in_flight, count, 1, rs.width_s),),
        x_label="time (s)",
        y_label="requests",
        x_format=_tick,
        y_format=_tick,
        x_range=x_range,
        x_marks=step_marks,
    )
    parts += [figure(tps), figure(flight), figure(_ttft_chart(models, rs, x_range, step_marks))]
    errors = [v for v in rs.errors.values if v]
    if errors:
        err = Chart(
            title="Errors",
            desc=f"Failed runs per {rs.width_s:g} s bucket, by the time they ended: "
            f"{sum(errors):g} in all, at most {max(errors):g} in one bucket.",
            series=(
                Series(
                    "failed runs",
                    [(t - rs.width_s, v) for t, v in rs.errors.points() if v],
                    kind="bars",
                    width=rs.width_s,
                    colour=3,
                ),
            ),
            x_label="time (s)",
            y_label="failed runs",
            y_integer=True,
            x_format=_tick,
            y_format=_tick,
            x_range=x_range,
            x_marks=step_marks,
        )
        parts.append(figure(err) + "</div>")
    else:
        parts.append('</div><p class="none">Errors: no measured run failed.</p>')
    parts.append("</section>")
    return "".join(parts)


#: Most dots the TTFT-over-time chart draws; past it every k-th run of each model is drawn
#: (the rolling p50/p99 lines still use every run), so a long run's page stays small.
MAX_DOTS = 3000


def _ttft_chart(
    models: Sequence[ModelRecords],
    rs: RunSeries,
    x_range: tuple[float, float],
    step_marks: Sequence[tuple[float, str]] = (),
) -> Chart:
    by_model = [
        (m, [r for r in m.records if r.ok and not r.warmup and r.ttft_s is not None])
        for m in models
    ]
    all_ttft = [r.ttft_s for _, runs in by_model for r in runs if r.ttft_s is not None]
    stride = max(1, math.ceil(len(all_ttft) / MAX_DOTS))
    scale = scale_for("s", max(all_ttft, default=0.0))
    series: list[Series] = [
        Series(
            m.name,
            [(r.started_at_s, scale(r.ttft_s)) for r in runs[::stride] if r.ttft_s is not None],
            kind="points",
            colour=m.colour,
        )
        for m, runs in by_model
        if runs
    ]
    series.append(_line("p50 (rolling)", rs.ttft_p50, scale, 6))
    series.append(_line("p99 (rolling)", rs.ttft_p99, scale, 7))
    if all_ttft:
        desc = (
            f"TTFT of {len(all_ttft)} ok runs by the time they were sent: from "
            f"{scale.text(min(all_ttft))} to {scale.text(max(all_ttft))}, median "
            f"{scale.text(median(all_ttft))}."
        )
        if stride > 1:
            desc += f" One run in {stride} is drawn as a dot; the p50/p99 lines use them all."
    else:
        desc = "No ok run had a TTFT (not streamed, or embeddings)."
    return Chart(
        title="TTFT over time",
        desc=desc,
        series=series,
        x_label="time sent (s)",
        y_label=f"TTFT ({scale.unit})",
        x_format=_tick,
        y_format=_tick,
        x_range=x_range,
        x_marks=step_marks,
    )


# --------------------------------------------------------------------- telemetry


def finite_number(x: object) -> float | None:
    """A finite number from a document (``None`` for anything else, bools included)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def telemetry_charts(
    telemetry: Mapping[str, Any],
    end_s: float | None,
    step_marks: Sequence[tuple[float, str]] = (),
) -> str:
    """One chart per (source, metric) of the export's ``telemetry.series``, one line per
    label (a model, for Ollama's per-model series)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for s in telemetry.get("series") or []:
        if isinstance(s, Mapping) and isinstance(s.get("samples"), list):
            groups.setdefault((str(s.get("source")), str(s.get("metric"))), []).append(s)
    if not groups:
        return '<p class="none">No telemetry series was recorded.</p>'
    parts = ['<div class="grid">']
    for (source, metric), members in groups.items():
        unit = str(members[0].get("unit") or "")
        points_by: list[tuple[str, list[tuple[float, float]]]] = []
        for s in members:
            pts: list[tuple[float, float]] = []
            for sample in s["samples"]:
                if isinstance(sample, list | tuple) and len(sample) == 2:
                    t, v = finite_number(sample[0]), finite_number(sample[1])
                    if t is not None and v is not None:
                        pts.append((t, v))
            label = s.get("label") or s.get("name") or metric
            points_by.append((str(label), pts))
        largest = max((abs(v) for _, pts in points_by for _, v in pts), default=0.0)
        scale = scale_for(unit, largest)
        all_t = [t for _, pts in points_by for t, _ in pts]
        x_range = None
        if all_t:
            x_range = (min(0.0, min(all_t)), max(max(all_t), end_s or 0.0))
        series = [
            Series(label, [(t, scale(v)) for t, v in pts], colour=i)
            for i, (label, pts) in enumerate(points_by)
        ]
        values = [v for _, pts in points_by for _, v in pts]
        server_name = members[0].get("name")
        title = f"{metric} ({source})"
        if values:
            desc = (
                f"Server telemetry {metric} from {source}"
                + (f" ({server_name})" if server_name else "")
                + f", {len(members)} series, {len(values)} samples: peak "
                f"{scale.text(max(values))}, mean {scale.text(sum(values) / len(values))}."
            )
        else:
            desc = f"Server telemetry {metric} from {source}: no sample."
        chart = Chart(
            title=title,
            desc=desc,
            series=series,
            x_label="time (s)",
            y_label=scale.unit or metric,
            x_format=_tick,
            y_format=_tick,
            x_range=x_range,
            x_marks=step_marks,
        )
        parts.append(figure(chart, str(server_name) if server_name else ""))
    parts.append("</div>")
    return "".join(parts)
