"""The sweep section of the report: the step table and the saturation curves, read
tolerantly from the export's ``steps`` (docs/json-schema.md). Nothing is written when the
document has no steps; a key a step does not have is shown as ``–``; keys this reader
does not know are left out of the curves but listed in the table when they are plain
values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ometer_tui.core.bench.series import CurvePoint, OfferedKind, sweep_curve
from ometer_tui.core.report.charts import Scale, figure, finite_number, scale_for
from ometer_tui.core.report.svg import Chart, Series
from ometer_tui.core.report.tables import table
from ometer_tui.core.units import format_seconds

__all__ = ["steps_section"]

#: Where a step (or a step's model entry) keeps its offered load, first found wins.
_OFFERED_KEYS = ("offered", "rate", "rate_rps", "offered_rps", "concurrency", "value")
_THROUGHPUT_KEYS = ("request_throughput", "throughput_rps", "throughput")


def _first(d: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, float] | None:
    for key in keys:
        value = finite_number(d.get(key))
        if value is not None:
            return key, value
    return None


def _model_entries(step: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(model name, entry) per model of a step; the step itself when it has none."""
    models = step.get("models")
    out: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(models, list):
        for m in models:
            if isinstance(m, Mapping):
                out.append((str(m.get("name") or m.get("model") or ""), m))
    elif isinstance(models, Mapping):
        out += [(str(k), v) for k, v in models.items() if isinstance(v, Mapping)]
    return out or [("", step)]


def _summary(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    s = entry.get("summary")
    return s if isinstance(s, Mapping) else entry


def _metric(summary: Mapping[str, Any], metric: str, figure_name: str) -> float | None:
    metrics = summary.get("metrics")
    if isinstance(metrics, Mapping):
        st = metrics.get(metric)
        if isinstance(st, Mapping):
            return finite_number(st.get(figure_name))
    return finite_number(summary.get(f"{metric.removesuffix('_s')}_{figure_name}_s"))


def _goodput(entry: Mapping[str, Any], summary: Mapping[str, Any]) -> float | None:
    for d in (entry, summary, entry.get("slo"), summary.get("slo")):
        if isinstance(d, Mapping):
            for key in ("goodput_rps", "goodput", "request_goodput"):
                value = finite_number(d.get(key))
                if value is not None:
                    return value
    return None


def _plain(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def steps_section(steps: object) -> str:
    """The sweep's step table and curves; ``""`` when there are no steps."""
    if not isinstance(steps, list):
        return ""
    step_list = [s for s in steps if isinstance(s, Mapping)]
    if not step_list:
        return ""
    scalar_keys: list[str] = []
    for s in step_list:
        for key, value in s.items():
            if not isinstance(value, Mapping | list) and key not in scalar_keys:
                scalar_keys.append(key)
    header = [
        "Step",
        *scalar_keys[:8],
        "Model",
        "Throughput (req/s)",
        "TTFT p50",
        "TTFT p99",
        "Goodput (req/s)",
    ]
    rows: list[list[str]] = []
    curves: dict[str, list[CurvePoint]] = {}
    offered_name = ""
    for i, step in enumerate(step_list):
        step_offered = _first(step, _OFFERED_KEYS)
        for name, entry in _model_entries(step):
            summary = _summary(entry)
            through = _first(summary, _THROUGHPUT_KEYS) or _first(entry, _THROUGHPUT_KEYS)
            p50 = _metric(summary, "ttft_s", "p50")
            p99 = _metric(summary, "ttft_s", "p99")
            good = _goodput(entry, summary)
            offered = _first(entry, _OFFERED_KEYS) or step_offered
            rows.append(
                [
                    _plain(step.get("index", i + 1)),
                    *(_plain(step.get(k)) for k in scalar_keys[:8]),
                    name or "–",
                    _plain(None if through is None else through[1]),
                    format_seconds(p50, "–"),
                    format_seconds(p99, "–"),
                    _plain(good),
                ]
            )
            if offered is not None and through is not None:
                offered_name = offered_name or offered[0]
                curves.setdefault(name, []).append(
                    CurvePoint(offered[1], through[1], p50, p99, good)
                )
    parts = [
        '<section id="steps"><h2>Sweep</h2>',
        table(header, rows, caption=f"{len(step_list)} load steps, one row per step and model"),
    ]
    if curves:
        parts.append(_curves(curves, offered_name))
    parts.append("</section>")
    return "".join(parts)


def _curves(curves: Mapping[str, Sequence[CurvePoint]], offered_name: str) -> str:
    kind: OfferedKind = "concurrency" if offered_name == "concurrency" else "rate"
    shaped = {name: sweep_curve(points, offered_kind=kind) for name, points in curves.items()}
    x_label = "offered concurrency" if kind == "concurrency" else "offered load (req/s)"
    through_series = []
    good_series = []
    ttft_series = []
    all_ttft = [
        y
        for c in shaped.values()
        for _, y in [*c.ttft_vs_throughput(50), *c.ttft_vs_throughput(99)]
    ]
    scale: Scale = scale_for("s", max(all_ttft, default=0.0))
    for i, (name, curve) in enumerate(shaped.items()):
        label = name or "all"
        through_series.append(Series(f"{label} throughput", curve.throughput(), colour=i))
        if curve.goodput():
            good_series.append(Series(f"{label} goodput", curve.goodput(), colour=i))
        p50 = [(x, scale(y)) for x, y in curve.ttft_vs_throughput(50)]
        p99 = [(x, scale(y)) for x, y in curve.ttft_vs_throughput(99)]
        ttft_series.append(Series(f"{label} p50", p50, colour=i))
        ttft_series.append(Series(f"{label} p99", p99, colour=(i + 4)))
    n_points = sum(len(c.points) for c in shaped.values())
    charts = [
        Chart(
            title="Throughput against offered load",
            desc=f"Achieved ok requests/s at each of {n_points} sweep points, by offered load"
            + (", with goodput (requests/s meeting every SLO)." if good_series else "."),
            series=[*through_series, *good_series],
            x_label=x_label,
            y_label="req/s",
        ),
        Chart(
            title="TTFT against throughput",
            desc="TTFT p50 and p99 at each sweep point, by the throughput it achieved.",
            series=ttft_series,
            x_label="throughput (req/s)",
            y_label=f"TTFT ({scale.unit})",
        ),
    ]
    return '<div class="grid">' + "".join(figure(c) for c in charts) + "</div>"
