"""A plain run's SLO figures, one row per result row (issue #12).

SLOs without a sweep, a search or repeats do not turn a dashboard run into a series:
each row (model, or endpoint and model) gets the figures a step would
(``slo.slo_figures``: attainment, goodput, token goodput; ``slo.percentile_check``: the
verdict at the SLOs' percentile) over its measured requests so far, with the rules of
``core/bench/slo.py``.
"""

from __future__ import annotations

import math

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.slo import SloTargets, percentile_check, slo_figures
from ometer_tui.core.units import format_seconds

MISSING = "–"
#: the columns of :func:`slo_rows`
SLO_HEADER: tuple[str, ...] = (
    "Model",
    "ok/err",
    "SLO met",
    "SLO",
    "Goodput req/s",
    "Good tok/s",
    "Percentiles",
)


def _rate(x: float | None) -> str:
    return MISSING if x is None or not math.isfinite(x) else f"{x:.2f}"


def _figure(value_s: float) -> str:
    return "failed" if math.isinf(value_s) else format_seconds(value_s, MISSING)


def slo_rows(result: BenchmarkResult, targets: SloTargets) -> list[list[str]]:
    """One row per result row with measured requests: its key, ok/failed, attainment,
    the verdict (``meets`` when every SLO's percentile is within its limit), goodput,
    token goodput and each SLO's percentile figure. Empty without targets."""
    if targets.empty:
        return []
    rows: list[list[str]] = []
    for key, mr in result.models.items():
        measured = [r for r in mr.records if not r.warmup]
        if not measured:
            continue
        figures = slo_figures(measured, targets)
        check = percentile_check(measured, targets)
        ok = sum(1 for r in measured if r.ok)
        percentiles = ", ".join(
            f"{name} {_figure(check.figures_s[name])}" for name, _ in targets.limits_ms
        )
        rows.append(
            [
                key,
                f"{ok}/{len(measured) - ok}",
                MISSING if figures.attainment is None else f"{figures.attainment:.0%}",
                "meets" if check.ok else "misses",
                _rate(figures.goodput_rps),
                _rate(figures.token_goodput_tps),
                percentiles,
            ]
        )
    return rows
