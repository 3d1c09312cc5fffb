"""The steps of a sweep, an SLO search or repeats in the exports: the JSON document's
``sweep`` and ``steps`` (schema version 2, docs/json-schema.md), reading them back, and
the step table of the Markdown report and the terminal table.

``export`` and ``export_read`` call in here; the summary's own dict shape stays theirs
(passed in), so this module imports neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.bench.slo import PercentileCheck, SloFigures, SloTargets
from ometer_tui.core.bench.steps import (
    DEFAULT_MAX_ERROR_RATE,
    SATURATION_MIN_GAIN,
    SATURATION_PATIENCE,
    SATURATION_TTFT_FLOOR_S,
    SATURATION_TTFT_RISE,
    Knee,
    LoadKind,
    ModelStep,
    SearchOutcome,
    StepLoad,
    StepPoint,
    StepResult,
    SweepRecord,
)
from ometer_tui.core.units import format_seconds

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

#: The missing figure in tables (as export.MISSING)
MISSING = "–"


def _num(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def _rules() -> dict[str, float]:
    return {
        "saturation_min_gain": SATURATION_MIN_GAIN,
        "saturation_ttft_rise": SATURATION_TTFT_RISE,
        "saturation_ttft_floor_s": SATURATION_TTFT_FLOOR_S,
        "saturation_patience": SATURATION_PATIENCE,
        "max_error_rate": DEFAULT_MAX_ERROR_RATE,
    }


def _check_dict(check: PercentileCheck) -> dict[str, Any]:
    return {
        "percentile": check.percentile,
        "figures_s": {k: _num(v) for k, v in check.figures_s.items()},
        "limits_s": {k: _num(v) for k, v in check.limits_s.items()},
        "requests": check.requests,
        "ok": check.ok,
    }


def _point_dict(p: StepPoint) -> dict[str, float | None]:
    return {f.name: _num(getattr(p, f.name)) for f in fields(StepPoint)}


def sweep_dict(result: BenchmarkResult) -> dict[str, Any] | None:
    """The document's ``sweep`` object (``None`` for a single run)."""
    record = result.sweep
    if record is None:
        return None
    search = record.search
    repeats: list[dict[str, Any]] = []
    if record.repeat > 1:
        for index, load, model, figures in record.repeat_stats():
            repeats.append(
                {
                    "index": index,
                    "load": load.as_dict(),
                    "model": model,
                    "metrics": {name: ci.as_dict() for name, ci in figures.items()},
                }
            )
    return {
        "mode": record.mode,
        "kind": record.kind.value,
        "spec": record.spec,
        "repeat": record.repeat,
        "slo": record.slo.as_dict(),
        "rules": _rules(),
        "stop_reason": record.stop_reason,
        "meets_slo": record.any_meets_slo,
        "knees": [
            {
                "model": model,
                "index": k.index,
                "load": k.load.as_dict(),
                "throughput_rps": _num(k.throughput_rps),
                "max_throughput_rps": _num(k.max_throughput_rps),
            }
            for model, k in record.knees.items()
        ],
        "search": None
        if search is None
        else {
            "kind": search.kind.value,
            "best": _num(search.best),
            "missed": _num(search.missed),
            "precision": search.precision,
            "percentile": search.percentile,
        },
        "repeats": repeats,
    }


def steps_list(
    result: BenchmarkResult, summary_dict: Callable[[ModelSummary], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The document's ``steps`` (``[]`` for a single run). Each step's runs are given
    as a range into ``models[].runs``, which holds every step's runs in step order."""
    record = result.sweep
    if record is None:
        return []
    offsets: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for step in record.steps:
        models = []
        for m in step.models:
            start = offsets.get(m.model, 0)
            offsets[m.model] = start + len(m.records)
            models.append(
                {
                    "model": m.model,
                    "phase": m.phase.value,
                    "runs": {"from": start, "count": len(m.records)},
                    "point": _point_dict(m.point(step.load.value)),
                    "summary": summary_dict(m.summary),
                    "slo": None if m.slo is None else m.slo.as_dict(),
                    "check": None if m.check is None else _check_dict(m.check),
                }
            )
        out.append(
            {
                "index": step.index,
                "load": step.load.as_dict(),
                "repeat": step.repeat,
                "role": step.role,
                "started_s": round(step.started_s, 6),
                "duration_s": round(step.duration_s, 6),
                "cancelled": step.cancelled,
                "saturated": list(step.saturated),
                "stop_reason": step.stop_reason,
                "meets_slo": step.meets_slo,
                "models": models,
            }
        )
    return out


# --------------------------------------------------------------------------- reading


def _load(d: Mapping[str, Any]) -> StepLoad:
    return StepLoad(LoadKind(d["kind"]), float(d["value"]))


def _f(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


def _check(d: Mapping[str, Any] | None) -> PercentileCheck | None:
    if not d:
        return None

    def seconds(m: Mapping[str, Any] | None) -> dict[str, float]:
        return {str(k): math.inf if v is None else float(v) for k, v in (m or {}).items()}

    figures = seconds(d.get("figures_s"))
    limits = seconds(d.get("limits_s"))
    requests = int(d.get("requests") or 0)
    return PercentileCheck(float(d.get("percentile") or 90), figures, limits, requests)


def sweep_from_doc(
    doc: Mapping[str, Any],
    records: Mapping[str, list[RunRecord]],
    summary_of: Callable[[str, Mapping[str, Any]], ModelSummary],
) -> SweepRecord | None:
    """The :class:`SweepRecord` of a version 2 document (``None`` for a single run or a
    version 1 document); ``records`` are each model's rebuilt runs."""
    sweep = doc.get("sweep")
    if not isinstance(sweep, Mapping):
        return None
    slo_d = sweep.get("slo") or {}
    limits = tuple((str(k), float(v)) for k, v in (slo_d.get("limits_ms") or {}).items())
    targets = SloTargets(limits, float(slo_d.get("percentile") or 90))
    mode = str(sweep.get("mode") or "sweep")
    record = SweepRecord(
        mode=mode if mode in ("sweep", "search", "repeat") else "sweep",  # type: ignore[arg-type]
        kind=LoadKind(sweep.get("kind") or "concurrency"),
        spec=str(sweep.get("spec") or ""),
        slo=targets,
        repeat=int(sweep.get("repeat") or 1),
        stop_reason=sweep.get("stop_reason"),
    )
    for s in doc.get("steps") or []:
        step = StepResult(
            index=int(s["index"]),
            load=_load(s["load"]),
            repeat=int(s.get("repeat") or 0),
            role=s.get("role") or "step",
            started_s=float(s.get("started_s") or 0.0),
            duration_s=float(s.get("duration_s") or 0.0),
            cancelled=bool(s.get("cancelled")),
            saturated=tuple(str(m) for m in s.get("saturated") or ()),
            stop_reason=s.get("stop_reason"),
        )
        for m in s.get("models") or []:
            name = str(m["model"])
            span = m.get("runs") or {}
            start, count = int(span.get("from") or 0), int(span.get("count") or 0)
            slo = m.get("slo")
            step.models.append(
                ModelStep(
                    model=name,
                    summary=summary_of(name, m.get("summary") or {}),
                    phase=ModelPhase(m.get("phase") or "done"),
                    records=list(records.get(name, [])[start : start + count]),
                    slo=None if slo is None else SloFigures.from_dict(slo),
                    check=_check(m.get("check")),
                )
            )
        record.steps.append(step)
    for k in sweep.get("knees") or []:
        record.knees[str(k["model"])] = Knee(
            int(k["index"]),
            _load(k["load"]),
            float(k.get("throughput_rps") or 0.0),
            float(k.get("max_throughput_rps") or 0.0),
        )
    search = sweep.get("search")
    if isinstance(search, Mapping):
        record.search = SearchOutcome(
            LoadKind(search["kind"]),
            _f(search.get("best")),
            _f(search.get("missed")),
            float(search.get("precision") or 0.0),
            float(search.get("percentile") or 90),
        )
    return record


# --------------------------------------------------------------------------- tables

#: The step table's columns (Markdown and the terminal table).
STEP_HEADER: tuple[str, ...] = (
    "Step",
    "Load",
    "Model",
    "ok/err",
    "req/s",
    "out tok/s",
    "TTFT p50",
    "TTFT p99",
    "E2E p50",
    "TPOT p50",
    "Goodput req/s",
    "SLO met",
    "SLO",
)


def _ms(x: float | None) -> str:
    return format_seconds(x, MISSING)


def _rate(x: float | None) -> str:
    return MISSING if x is None or not math.isfinite(x) else f"{x:.2f}"


def _step_label(step: StepResult, repeats: int) -> str:
    label = str(step.index)
    if repeats > 1:
        label += f".{step.repeat + 1}"
    if step.role in ("anchor", "probe"):
        label += f" {step.role}"
    if step.cancelled:
        label += " (cancelled)"
    elif step.saturated:
        label += " saturated"
    return label


def step_rows(record: SweepRecord) -> list[list[str]]:
    """One row per step and model (the cells as text, unescaped)."""
    rows: list[list[str]] = []
    for step in record.steps:
        for m in step.models:
            p = m.point(step.load.value)
            s = m.summary
            verdict = MISSING
            if m.check is not None:
                verdict = "meets" if m.check.ok else "misses"
            rows.append(
                [
                    _step_label(step, record.repeat),
                    step.load.label(),
                    m.model,
                    f"{s.ok}/{s.errors}",
                    _rate(p.throughput_rps),
                    _rate(p.output_tps),
                    _ms(p.ttft_p50_s),
                    _ms(p.ttft_p99_s) if s.ok >= 5 else f"n<{5}" if s.ok else MISSING,
                    _ms(p.e2e_p50_s),
                    _ms(p.tpot_p50_s),
                    _rate(p.goodput_rps),
                    MISSING if p.attainment is None else f"{p.attainment:.0%}",
                    verdict,
                ]
            )
    return rows


#: Figures of the repeats table: (point key, header, scale, digits).
_REPEAT_FIGURES = (
    ("throughput_rps", "req/s", 1.0, 2),
    ("output_tps", "out tok/s", 1.0, 1),
    ("ttft_p50_s", "TTFT p50 ms", 1000.0, 1),
    ("e2e_p50_s", "E2E p50 ms", 1000.0, 1),
    ("goodput_rps", "Goodput req/s", 1.0, 2),
)


def repeat_rows(record: SweepRecord) -> tuple[list[str], list[list[str]]]:
    """The repeats table: per step and model, each figure's mean ± the 95% CI's half
    width (Student t over the repeats)."""
    header = ["Step", "Load", "Model", "n", *(h for _, h, _, _ in _REPEAT_FIGURES)]
    rows = []
    for index, load, model, figures in record.repeat_stats():
        n = max((ci.n for ci in figures.values()), default=0)
        cells = [str(index), load.label(), model, str(n)]
        for key, _, scale, digits in _REPEAT_FIGURES:
            ci = figures.get(key)
            cells.append(MISSING if ci is None else ci.describe(scale, digits))
        rows.append(cells)
    return header, rows


def outcome_lines(record: SweepRecord) -> list[str]:
    """What the sweep came to, in sentences: SLOs, stop reason, knees, search."""
    lines = []
    if not record.slo.empty:
        lines.append(f"SLOs: {record.slo.describe()} (percentile p{record.slo.percentile:g}).")
    if record.stop_reason:
        lines.append(f"Stopped early: {record.stop_reason.rstrip('.')}.")
    for model, knee in record.knees.items():
        lines.append(f"{model}: {knee.describe()}.")
    if record.search is not None:
        lines.append(record.search.describe() + ".")
    elif record.any_meets_slo is False:
        lines.append("No step met the SLOs.")
    return lines


def step_sections(
    result: BenchmarkResult,
    table: Callable[[Sequence[str], Sequence[list[str]]], list[str]],
    esc: Callable[[str], str],
) -> list[str]:
    """The steps part of a report, ``table`` drawing each table (Markdown or aligned
    text) and ``esc`` escaping cells; ``[]`` for a single run."""
    record = result.sweep
    if record is None:
        return []
    title = {"sweep": "Sweep", "search": "SLO search", "repeat": "Repeats"}[record.mode]
    if record.mode == "repeat" and record.repeat == 1:
        title = "SLOs"  # a single run with SLOs: one step
    lines = [
        "",
        f"{title}: {esc(record.spec)}, {record.repeat} repeat(s) per step "
        "(the summary above takes every step together):",
        "",
    ]
    lines += table(STEP_HEADER, [[esc(c) for c in row] for row in step_rows(record)])
    outcome = outcome_lines(record)
    if outcome:
        lines += ["", *(esc(line) for line in outcome)]
    if record.repeat > 1:
        header, rows = repeat_rows(record)
        lines += ["", "Mean ± 95% confidence interval (Student t) across the repeats:", ""]
        lines += table(header, [[esc(c) for c in row] for row in rows])
    return lines
