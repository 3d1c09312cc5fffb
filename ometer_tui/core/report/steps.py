"""The sweep section of the report: the step table, what the sweep came to, and the
saturation curves, read from the export's ``sweep`` and ``steps`` (schema version 2,
docs/json-schema.md, "sweep and steps").

The reader is tolerant: no ``steps`` (a single run, or a version-1 document) writes
nothing; a key a step lacks is ``–``; a step without ``point`` figures is in the table
but not on the curves. The table has the columns of the Markdown report's step table
(``sweep_doc.STEP_HEADER``) with the same number formats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ometer_tui.core.bench.series import CurvePoint, OfferedKind, sweep_curve
from ometer_tui.core.report.charts import Scale, esc, figure, finite_number, scale_for
from ometer_tui.core.report.svg import Chart, Series
from ometer_tui.core.report.tables import table
from ometer_tui.core.units import format_seconds

__all__ = ["STEP_HEADER", "step_marks", "steps_section"]

MISSING = "–"
#: As the Markdown report's step table.
STEP_HEADER: tuple[str, ...] = (
    "Step", "Load", "Model", "ok/err", "req/s", "out tok/s", "TTFT p50", "TTFT p99",
    "E2E p50", "TPOT p50", "Goodput req/s", "SLO met", "SLO",
)  # fmt: skip
_TITLES = {"sweep": "Sweep", "search": "SLO search", "repeat": "Repeats"}


def _maps(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _rate(x: object) -> str:
    n = finite_number(x)
    return MISSING if n is None else f"{n:.2f}"


def _ms(x: object) -> str:
    return format_seconds(finite_number(x), MISSING)


def _load_label(load: Mapping[str, Any]) -> str:
    kind, value = load.get("kind"), finite_number(load.get("value"))
    if value is None:
        return MISSING
    if kind == "concurrency":
        return f"concurrency {value:g}"
    if kind == "rate":
        return f"{value:g} req/s"
    return f"{kind} {value:g}"


def _step_label(step: Mapping[str, Any], position: int, repeats: int) -> str:
    index = step.get("index", position)
    label = str(index)
    repeat = step.get("repeat")
    if repeats > 1 and isinstance(repeat, int):
        label += f".{repeat + 1}"
    if step.get("role") in ("anchor", "probe"):
        label += f" {step['role']}"
    if step.get("cancelled"):
        label += " (cancelled)"
    return label


def _row(step_label: str, load: str, m: Mapping[str, Any]) -> list[str]:
    point = _map(m.get("point"))
    summary = _map(m.get("summary"))
    ok = summary.get("ok")
    errors = summary.get("errors")
    ok_err = f"{ok}/{errors}" if isinstance(ok, int) and isinstance(errors, int) else MISSING
    p99 = _ms(point.get("ttft_p99_s"))
    if isinstance(ok, int) and ok < 5:
        p99 = "n<5" if ok else MISSING
    attainment = finite_number(point.get("attainment"))
    check = m.get("check")
    verdict = MISSING
    if isinstance(check, Mapping) and isinstance(check.get("ok"), bool):
        verdict = "meets" if check["ok"] else "misses"
    return [
        step_label,
        load,
        str(m.get("model") or m.get("name") or MISSING),
        ok_err,
        _rate(point.get("throughput_rps")),
        _rate(point.get("output_tps")),
        _ms(point.get("ttft_p50_s")),
        p99,
        _ms(point.get("e2e_p50_s")),
        _ms(point.get("tpot_p50_s")),
        _rate(point.get("goodput_rps")),
        MISSING if attainment is None else f"{attainment:.0%}",
        verdict,
    ]


def _outcome(sweep: Mapping[str, Any]) -> list[str]:
    """What the sweep came to, in sentences (as the Markdown report says it)."""
    lines = []
    slo = _map(sweep.get("slo"))
    limits = _map(slo.get("limits_ms"))
    if limits:
        targets = ", ".join(f"{k} ≤ {v:g} ms" for k, v in limits.items() if finite_number(v))
        pct = finite_number(slo.get("percentile"))
        lines.append(f"SLOs: {targets}" + (f" (percentile p{pct:g})." if pct else "."))
    if sweep.get("stop_reason"):
        lines.append(f"Stopped early: {str(sweep['stop_reason']).rstrip('.')}.")
    for knee in _maps(sweep.get("knees")):
        at = _load_label(_map(knee.get("load")))
        lines.append(
            f"{knee.get('model')}: knee at {at} ({_rate(knee.get('throughput_rps'))} req/s of "
            f"at most {_rate(knee.get('max_throughput_rps'))})."
        )
    search = sweep.get("search")
    if isinstance(search, Mapping):
        unit = "req/s" if search.get("kind") == "rate" else "streams"
        best, missed = finite_number(search.get("best")), finite_number(search.get("missed"))
        if best is None:
            lines.append("SLO search: even the first probe missed the SLOs.")
        else:
            lines.append(
                f"SLO search: the highest load meeting the SLOs is {best:g} {unit}"
                + (f" ({missed:g} missed)." if missed is not None else ".")
            )
    elif sweep.get("meets_slo") is False:
        lines.append("No step met the SLOs.")
    return lines


def step_marks(steps: object) -> list[tuple[float, str]]:
    """(start in s on the runs' time axis, short load label) of each step, for the
    vertical lines on the time series; ``[]`` without steps."""
    out: list[tuple[float, str]] = []
    for step in _maps(steps):
        start = finite_number(step.get("started_s"))
        load = _map(step.get("load"))
        value = finite_number(load.get("value"))
        if start is None:
            continue
        if value is None:
            label = ""
        elif load.get("kind") == "concurrency":
            label = f"c={value:g}"
        else:
            label = f"{value:g}/s"
        out.append((start, label))
    return out


def steps_section(steps: object, sweep: object = None) -> str:
    """The sweep's part of the report; ``""`` when the document has no steps."""
    step_list = _maps(steps)
    if not step_list:
        return ""
    sw = _map(sweep)
    repeats = sw.get("repeat") if isinstance(sw.get("repeat"), int) else 1
    rows: list[list[str]] = []
    points: dict[str, dict[float, list[Mapping[str, Any]]]] = {}
    kinds: set[str] = set()
    for position, step in enumerate(step_list):
        load = _map(step.get("load"))
        if isinstance(load.get("kind"), str):
            kinds.add(load["kind"])
        label = _step_label(step, position, int(repeats or 1))
        for m in _maps(step.get("models")):
            rows.append(_row(label, _load_label(load), m))
            point = _map(m.get("point"))
            offered = finite_number(point.get("offered", load.get("value")))
            if offered is not None and finite_number(point.get("throughput_rps")) is not None:
                name = str(m.get("model") or "")
                points.setdefault(name, {}).setdefault(offered, []).append(point)
    title = _TITLES.get(str(sw.get("mode")), "Sweep")
    spec = sw.get("spec")
    intro = f"{title}: {spec}" if spec else title
    parts = [
        f'<section id="steps"><h2>{esc(title)}</h2>',
        f'<p class="note">{esc(intro)}. The summary above takes every step together; '
        "each step's own figures:</p>",
        table(STEP_HEADER, rows, caption=f"{len(step_list)} steps, one row per step and model"),
    ]
    outcome = _outcome(sw)
    if outcome:
        parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in outcome) + "</ul>")
    if points:
        kind: OfferedKind = "concurrency" if kinds == {"concurrency"} else "rate"
        ttft_slo = finite_number(_map(_map(sw.get("slo")).get("limits_ms")).get("ttft"))
        parts.append(_curves(points, kind, None if ttft_slo is None else ttft_slo / 1000))
    parts.append("</section>")
    return "".join(parts)


def _mean(points: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """The mean of a figure over the repeats of one load (``None``: none had it)."""
    values = [v for p in points if (v := finite_number(p.get(key))) is not None]
    return sum(values) / len(values) if values else None


def _curves(
    points: Mapping[str, Mapping[float, Sequence[Mapping[str, Any]]]],
    kind: OfferedKind,
    slo_ttft_s: float | None,
) -> str:
    curves = {}
    for name, by_load in points.items():
        curve_points = [
            CurvePoint(
                offered,
                _mean(reps, "throughput_rps") or 0.0,
                _mean(reps, "ttft_p50_s"),
                _mean(reps, "ttft_p99_s"),
                _mean(reps, "goodput_rps"),
            )
            for offered, reps in by_load.items()
        ]
        curves[name] = sweep_curve(curve_points, offered_kind=kind, slo_ttft_s=slo_ttft_s)
    all_ttft = [
        y
        for c in curves.values()
        for _, y in (*c.ttft_vs_throughput(50), *c.ttft_vs_throughput(99))
    ]
    scale: Scale = scale_for("s", max([*all_ttft, slo_ttft_s or 0.0], default=0.0))
    through: list[Series] = []
    good: list[Series] = []
    ttft: list[Series] = []
    for i, (name, curve) in enumerate(curves.items()):
        label = name or "all"
        through.append(Series(f"{label} throughput", curve.throughput(), colour=i, markers=True))
        if curve.goodput():
            good.append(
                Series(f"{label} goodput", curve.goodput(), colour=i + 4, markers=True, dashed=True)
            )
        p50 = [(x, scale(y)) for x, y in curve.ttft_vs_throughput(50)]
        p99 = [(x, scale(y)) for x, y in curve.ttft_vs_throughput(99)]
        ttft.append(Series(f"{label} p50", p50, colour=i, markers=True))
        if p99:
            ttft.append(Series(f"{label} p99", p99, colour=i + 4, markers=True, dashed=True))
    n = sum(len(c.points) for c in curves.values())
    x_label = "offered concurrency (streams)" if kind == "concurrency" else "offered load (req/s)"
    marks = (
        [] if slo_ttft_s is None else [(scale(slo_ttft_s), f"TTFT SLO {scale.text(slo_ttft_s)}")]
    )
    charts = [
        Chart(
            title="Throughput against offered load",
            desc=f"Achieved ok requests/s at each of {n} loads (the mean of its repeats), "
            "by offered load"
            + ("; dashed: goodput (requests/s meeting every SLO)." if good else "."),
            series=[*through, *good],
            x_label=x_label,
            y_label="req/s",
        ),
        Chart(
            title="TTFT against throughput",
            desc="TTFT p50 (solid) and p99 (dashed) at each load, by the throughput it achieved"
            + (f"; the red line is the TTFT SLO ({scale.text(slo_ttft_s)})." if marks else "."),
            series=ttft,
            x_label="throughput (req/s)",
            y_label=f"TTFT ({scale.unit})",
            marks=marks,
        ),
    ]
    return '<div class="grid">' + "".join(figure(c) for c in charts) + "</div>"
