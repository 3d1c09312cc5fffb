"""The results table: one row per model, built on :class:`FittedTable`.

The pure part (columns, cells, colours, sorting) needs no App and is tested alone; the
widget (:class:`ResultsTable`) renders a :class:`BenchmarkResult` given from above and
keeps its view state (sort, per-run view). Every cell carries its raw value beside its
display text (:class:`Cell`); sorting and colouring read the raw value, never the text.

What the figures are (the legend says it too): TTFT, vTTFT, e2e and latency are medians
(p50) of the ok measured runs, tok/s rates are means, ``±`` is the TTFT standard
deviation, and ``ok`` is the n every figure of its row rests on. p90/p99 (TTFT) need
n >= 5. Embedding models have their own latency column and no TTFT.

A benchmark with a load (``plan.load``) adds the load columns (:mod:`load_columns`:
achieved request rate of the offered, schedule lag p99, lengths got/asked, the most
requests in flight), from the core's load summary.

Trends (given with the result, from the history): a ``Δ`` column after TTFT, vTTFT,
tok/s, e2e and err says how the figure moved against the latest comparable saved
result: ``▲12%``/``▼5%`` beyond noise (green better, red worse), ``≈`` within it. They
are dropped before the figures on narrow terminals. Two rows marked (``space``, shown as
A and B in the status cell) are compared with ``c`` (:class:`ResultsTable.CompareRequested`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from ometer_tui.core.bench.adjustments import adjusted
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.fold import (
    Progress,
    is_embedding,
    live_stats,
    main_error,
    measured,
)
from ometer_tui.core.bench.metrics import FEW_VALUES
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import Stats
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.runner import planned_runs_per_model
from ometer_tui.core.compare import Verdict
from ometer_tui.core.models import Workload
from ometer_tui.core.trends import Trend
from ometer_tui.tui.formatting import (
    BUFFERED,
    DASH,
    NOT_STREAMED,
    fmt_bytes,
    fmt_context,
    fmt_money,
    fmt_rate,
    fmt_seconds,
)
from ometer_tui.tui.widgets.fitted_table import FittedTable
from ometer_tui.tui.widgets.load_columns import (
    LOAD_SD_PRIORITY,
    LOAD_TITLES,
    LiveLoads,
    load_cells,
    load_columns,
    load_mode,
    row_load,
)
from ometer_tui.tui.widgets.results_cells import (
    BAD,
    GOOD,
    MIDDLE,
    MODEL_MIN_WIDTH,
    Better,
    Cell,
    ColumnSpec,
    Kind,
    Raw,
    Row,
)

#: Per-run columns are shown for at most this many measured runs per model.
MAX_PER_RUN_COLUMNS = 12
#: With fewer measured values than this, p90/p99 are not shown (metrics.md).
MIN_N_FOR_PERCENTILES = FEW_VALUES
#: The legend of the columns that show medians.
MEDIANS = "TTFT, e2e: medians"


# ------------------------------------------------------------------------------ columns

#: What each column is called in words (the command palette's "Sort by ...").
TITLES = {
    "status": "status",
    "endpoint": "endpoint",
    "model": "model name",
    "ttft": "TTFT (median)",
    "sd": "TTFT spread (±, std dev)",
    "vttft": "visible TTFT (median)",
    "tps": "tok/s (mean)",
    "srv_tps": "server tok/s (mean)",
    "e2e": "e2e (median)",
    "latency": "embedding latency (median)",
    "p90": "TTFT p90",
    "p99": "TTFT p99",
    "ok": "ok runs",
    "err": "errors",
    "error": "error kind",
    "tokens": "output tokens",
    "cost": "cost",
    "size": "model size",
    "quant": "quantization",
    "ctx": "context length",
    "ttft_d": "TTFT change vs history",
    "vttft_d": "visible TTFT change vs history",
    "tps_d": "tok/s change vs history",
    "e2e_d": "e2e change vs history",
    "err_d": "error rate change vs history",
}


def column_title(key: str) -> str:
    """A column's name in words; per-run columns by their run (``TTFT of run 2``)."""
    if key in TITLES:
        return TITLES[key]
    if key in LOAD_TITLES:
        return LOAD_TITLES[key]
    for prefix, what in (("ttft", "TTFT"), ("tps", "tok/s")):
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return f"{what} of run {key[len(prefix) :]}"
    return key


def status_column_width(plan: BenchmarkPlan) -> int:
    """Room for ``running n/N``: N is the plan's runs, or the requests a load expects
    (a Poisson load may send a few more; 9999 when its count is not known beforehand)."""
    n = plan.runs_per_model
    if plan.load is not None:
        n = math.ceil(planned_runs_per_model(plan) * 1.1) or 9999
    return max(len("cancelled"), len(f"running {n}/{n}"))


def has_embeddings(plan: BenchmarkPlan) -> bool:
    return any(m.workload is Workload.EMBEDDING for m in plan.models)


def base_columns(
    plan: BenchmarkPlan,
    *,
    errors: bool = False,
    embeddings: bool | None = None,
    load: str | None = None,
) -> list[ColumnSpec]:
    """The aggregate columns, in display order, sized up front.

    ``errors``: some model has failed runs (adds the main-error column);
    ``embeddings``: some model is an embedding model (adds the latency column; by
    default from the plan's models); ``load``: the load's mode when the plan has none
    (a result from the history: its saved figures'; see :func:`load_mode`). A load adds
    the load columns (:mod:`load_columns`).
    """
    name_width = max((len(m.name) for m in plan.models), default=10)
    status_width = status_column_width(plan)
    embed = has_embeddings(plan) if embeddings is None else embeddings
    t, r = Kind.TIME, Kind.RATE
    lo, hi = Better.LOWER, Better.HIGHER
    cols = [
        ColumnSpec("status", "status", status_width, Kind.STATUS),
        *endpoint_columns(plan),
        ColumnSpec("model", "model", min(max(name_width, 10), 36), Kind.TEXT),
        ColumnSpec("ttft", "TTFT", 7, t, lo, 0, MEDIANS),
        ColumnSpec("sd", "±", 8, t, Better.NONE, 2, "±: TTFT std dev"),
        ColumnSpec("vttft", "vTTFT", 7, t, lo, 5, "vTTFT: first visible token"),
        ColumnSpec("tps", "tok/s", 7, r, hi, 0, "tok/s: mean"),
        ColumnSpec("srv_tps", "srv t/s", 7, r, hi, 5, "srv t/s: server decode"),
        ColumnSpec("e2e", "e2e", 7, t, lo, 2, MEDIANS),
    ]
    if embed:
        cols.append(ColumnSpec("latency", "embed", 7, t, lo, 1, "embed: embedding latency",
                               squeeze=True))  # fmt: skip
    cols += [
        ColumnSpec("p90", "p90", 7, t, lo, 4, "p90/p99: TTFT (n ≥ 5)"),
        ColumnSpec("p99", "p99", 7, t, lo, 3, "p90/p99: TTFT (n ≥ 5)"),
        ColumnSpec("ok", "ok", 3, Kind.COUNT, legend="ok: the n of each figure"),
        ColumnSpec("err", "err", 3, Kind.ERRORS),
    ]
    if errors:
        cols.append(ColumnSpec("error", "error", 9, Kind.TEXT, priority=1, squeeze=True))
    load_cols = load_columns(plan, load_mode(plan) or load)
    if load_cols:  # a load test wants its lengths before the TTFT spread
        cols = [replace(c, priority=LOAD_SD_PRIORITY) if c.key == "sd" else c for c in cols]
    cols += load_cols
    cols.append(ColumnSpec("tokens", "tokens", 6, Kind.COUNT, priority=7))
    if plan.prices is not None:
        cols.append(ColumnSpec("cost", "cost", 8, Kind.MONEY, Better.LOWER, priority=3))
    cols += [
        ColumnSpec("size", "size", 7, Kind.BYTES, priority=8),
        ColumnSpec("quant", "quant", 7, Kind.TEXT, priority=9),
        ColumnSpec("ctx", "ctx", 5, Kind.CONTEXT, priority=10),
    ]
    return cols


def endpoint_columns(plan: BenchmarkPlan) -> list[ColumnSpec]:
    """The endpoint column, for a benchmark of several endpoints (rows are keyed by
    endpoint and model); none for one endpoint."""
    if not plan.multi_endpoint:
        return []
    width = max(len(ep.name) for ep in plan.endpoints)
    return [ColumnSpec("endpoint", "endpoint", min(max(width, 8), 24), Kind.TEXT)]


def per_run_count(plan: BenchmarkPlan) -> int:
    return max(0, min(plan.runs_per_model, MAX_PER_RUN_COLUMNS))


def per_run_columns(n: int, *, shown: int | None = None) -> list[ColumnSpec]:
    """TTFT1..n then TPS1..n; the first ``shown`` runs always kept, the rest optional."""
    keep = n if shown is None else shown

    def spec(prefix: str, label: str, i: int, kind: Kind, better: Better) -> ColumnSpec:
        return ColumnSpec(f"{prefix}{i}", f"{label}{i}", 7, kind, better,
                          0 if i <= keep else 9, "")  # fmt: skip

    return [spec("ttft", "TTFT", i, Kind.TIME, Better.LOWER) for i in range(1, n + 1)] + [
        spec("tps", "TPS", i, Kind.RATE, Better.HIGHER) for i in range(1, n + 1)
    ]


#: The trend column after each figure: (figure column, trend column, metric, priority).
TREND_COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("ttft", "ttft_d", "ttft_p50", 2),
    ("vttft", "vttft_d", "ttft_visible_p50", 5),
    ("tps", "tps_d", "decode_tps", 2),
    ("e2e", "e2e_d", "e2e_p50", 3),
    ("err", "err_d", "error_rate", 3),
)
#: ``▲>999%``, ``▲33pt``: the widest compact trend mark
TREND_WIDTH = 6


def trend_legend(trends: Mapping[str, Trend]) -> str:
    """What the Δ columns compare against: one baseline named, or several."""
    ids = {t.baseline.id for t in trends.values()}
    against = f"history #{ids.pop()}" if len(ids) == 1 else "the last comparable saved result"
    return f"Δ: vs {against} (▲▼ beyond noise, ≈ within)"


def with_trend_columns(columns: Sequence[ColumnSpec], legend: str) -> list[ColumnSpec]:
    """``columns`` with a Δ column after each figure that has a trend."""
    after = {fig: (key, prio) for fig, key, _, prio in TREND_COLUMNS}
    out: list[ColumnSpec] = []
    for col in columns:
        out.append(col)
        if col.key in after:
            key, prio = after[col.key]
            out.append(ColumnSpec(key, "Δ", TREND_WIDTH, Kind.TEXT, priority=prio, legend=legend))
    return out


TREND_STYLE = {Verdict.BETTER: "green", Verdict.WORSE: "bold red", Verdict.SAME: "dim"}


def trend_cells(trend: Trend | None) -> Row:
    """The Δ cells of one row (empty for a row without a baseline, or too few runs).
    The raw value, for sorting, is the change in % (points for the error rate), 0 when
    within noise."""
    row: Row = {}
    for _, key, metric, _ in TREND_COLUMNS:
        m = None if trend is None else trend.metric(metric)
        if m is None or m.verdict is Verdict.TOO_FEW:
            row[key] = Cell(None, "", right=True)
            continue
        raw = 0.0
        if m.verdict is not Verdict.SAME:
            raw = (m.difference if m.spec.kind == "proportion" else m.difference_pct) or 0.0
        row[key] = Cell(raw, trend.mark(metric, compact=True) if trend else "",
                        TREND_STYLE[m.verdict], right=True)  # fmt: skip
    return row


#: Aggregate columns always kept beside the per-run columns in the per-run view.
PER_RUN_VIEW_KEEPS = ("status", "endpoint", "model", "ok", "err")
#: ...and those shown too when there is room left.
PER_RUN_VIEW_EXTRAS = ("ttft", "tps")


def per_run_fit(plan: BenchmarkPlan, available: int) -> int:
    """How many runs' TTFT and TPS columns fit beside the kept columns (model cut to
    its minimum); every run when the width is not known yet."""
    n = per_run_count(plan)
    if available <= 0:
        return n
    kept = [c for c in base_columns(plan) if c.key in PER_RUN_VIEW_KEEPS]
    used = sum((MODEL_MIN_WIDTH if c.key == "model" else c.render_width) + 2 for c in kept)
    pair = 2 * (7 + 2)
    return max(1, min(n, (available - used) // pair))


def columns_for_view(
    plan: BenchmarkPlan,
    *,
    per_run: bool,
    errors: bool = False,
    shown_runs: int | None = None,
    trends: str = "",
    load: str | None = None,
) -> list[ColumnSpec]:
    """``trends``: the legend of the Δ columns (``""``: no trends, no Δ columns);
    ``load``: as :func:`base_columns`."""
    base = base_columns(plan, errors=errors, load=load)
    if not per_run:
        return with_trend_columns(base, trends) if trends else base
    kept = [
        c if c.key in PER_RUN_VIEW_KEEPS else replace(c, priority=1)
        for c in base
        if c.key in PER_RUN_VIEW_KEEPS + PER_RUN_VIEW_EXTRAS
    ]
    return kept + per_run_columns(per_run_count(plan), shown=shown_runs)


def legend_text(
    columns: Sequence[ColumnSpec],
    *,
    per_run_shown: int = 0,
    per_run_total: int = 0,
    adjusted: bool = False,
) -> Text:
    """What the shown columns mean (only those shown); ``adjusted``: some row carries
    the :data:`ADJUSTED_MARK`. Two entries that say the same of two columns are one
    (``in tok: mean got/asked`` and ``out tok: …`` make ``in/out tok: …``)."""
    seen: list[str] = [ADJUSTED_LEGEND] if adjusted else []
    for col in columns:
        if col.legend and col.legend not in seen:
            seen.append(col.legend)
    seen = merged_legends(seen)
    if per_run_total:
        runs = f"TTFT1…{per_run_shown}, TPS1…{per_run_shown}: each measured run (✗ failed)"
        if per_run_shown < per_run_total:
            runs += f"; runs 1–{per_run_shown} of {per_run_total} fit"
        seen.append(runs)
    return Text(" · ".join(seen), style="dim")


def merged_legends(entries: Sequence[str]) -> list[str]:
    """``A: x`` and a later ``B: x`` as one ``A/B: x`` (at A's place; ``in tok: x`` and
    ``out tok: x`` as ``in/out tok: x``)."""
    out: list[str] = []
    for entry in entries:
        name, sep, meaning = entry.partition(": ")
        twin = next((i for i, e in enumerate(out) if sep and e.partition(": ")[2] == meaning),
                    None)  # fmt: skip
        if twin is None:
            out.append(entry)
        else:
            out[twin] = f"{_joined(out[twin].partition(': ')[0], name)}{sep}{meaning}"
    return out


def _joined(a: str, b: str) -> str:
    """``in tok`` and ``out tok`` -> ``in/out tok``; ``A`` and ``B`` -> ``A/B``."""
    (head_a, _, last_a), (head_b, _, last_b) = a.rpartition(" "), b.rpartition(" ")
    if head_a and head_b and last_a == last_b:
        return f"{head_a}/{head_b} {last_a}"
    return f"{a}/{b}"


# ---------------------------------------------------------------------------------- rows

PHASE_ORDER = {
    ModelPhase.RUNNING: 0,
    ModelPhase.WARMING: 1,
    ModelPhase.QUEUED: 2,
    ModelPhase.DONE: 3,
    ModelPhase.CANCELLED: 4,
    ModelPhase.FAILED: 5,
}
PHASE_STYLE = {
    ModelPhase.QUEUED: "dim",
    ModelPhase.WARMING: "cyan",
    ModelPhase.RUNNING: "bold cyan",
    ModelPhase.DONE: "green",
    ModelPhase.FAILED: "bold red",
    ModelPhase.CANCELLED: "yellow",
}


#: On a row's status: some of its requests were sent changed (a dropped parameter, a cut
#: prompt); the legend says so and the model's detail says which.
ADJUSTED_MARK = " ⚠"
ADJUSTED_LEGEND = "⚠: sent changed (a parameter dropped, the prompt cut: see the detail)"


def status_cell(phase: ModelPhase, progress: Progress | None) -> Cell:
    text = str(phase)
    if phase is ModelPhase.RUNNING and progress is not None:
        text = f"running {progress.done}/{progress.total}"
    return Cell(PHASE_ORDER[phase], text, PHASE_STYLE[phase])


def _time_cell(value: float | None) -> Cell:
    return Cell(value, fmt_seconds(value), right=True)


def _rate_cell(value: float | None) -> Cell:
    return Cell(value, fmt_rate(value), right=True)


def _none() -> Cell:
    return Cell(None, DASH, right=True)


def _p50(st: Stats | None) -> float | None:
    return st.p50 if st is not None else None


def build_row(
    mr: ModelResult,
    plan: BenchmarkPlan,
    *,
    progress: Progress | None = None,
    per_run: int = 0,
    loads: LiveLoads | None = None,
) -> Row:
    """Every column's cell for one model (uncoloured; see :func:`apply_colours`);
    ``loads``: the widget's cache of the load figures (none: computed here)."""
    runs = measured(mr.records)
    ok = sum(1 for r in runs if r.ok)
    errors = len(runs) - ok
    if mr.summary is not None:
        ok, errors = mr.summary.ok, mr.summary.errors
    embed = is_embedding(mr)
    ttft = None if embed else live_stats(mr, "ttft_s")

    def pct(which: str) -> Cell:
        if ttft is None or ttft.n < MIN_N_FOR_PERCENTILES:
            return _none()
        return _time_cell(getattr(ttft, which))

    if mr.summary is not None:
        tokens = mr.summary.output_tokens
        estimated = mr.summary.tokens_estimated
    else:
        tokens = sum(r.output_tokens or 0 for r in runs)
        estimated = any(r.tokens_source == "chunks" for r in runs)
    has_tokens = any(r.output_tokens is not None for r in runs)
    sd = ttft.stdev if ttft is not None and ttft.n >= 2 else None
    error = main_error(mr)

    tps = None if embed else live_stats(mr, "decode_tps")
    row: Row = {
        "status": status_cell(mr.phase, progress),
        "model": Cell(mr.info.name, mr.info.name, "bold"),
        **({} if mr.endpoint is None else {"endpoint": Cell(mr.endpoint, mr.endpoint, "cyan")}),
        "ttft": _time_cell(_p50(ttft)),
        "sd": Cell(sd, "±" + fmt_seconds(sd) if sd is not None else DASH, right=True),
        "vttft": _none() if embed else _time_cell(_p50(live_stats(mr, "ttft_visible_s"))),
        "tps": _none() if embed else _rate_cell(_mean(tps)),
        "srv_tps": _none() if embed else _rate_cell(
            _mean(live_stats(mr, "server_decode_tps"))),
        "e2e": _none() if embed else _time_cell(_p50(live_stats(mr, "e2e_s"))),
        "latency": _time_cell(_p50(live_stats(mr, "latency_s"))) if embed else _none(),
        "p90": pct("p90"),
        "p99": pct("p99"),
        "ok": Cell(ok, str(ok), right=True),
        "err": Cell(errors, str(errors), right=True),
        "error": Cell(error, error or "", "red"),
        "tokens": Cell(
            tokens if has_tokens else None,
            (f"~{tokens}" if estimated else str(tokens)) if has_tokens else DASH,
            right=True,
        ),
        "size": Cell(mr.info.size_bytes, fmt_bytes(mr.info.size_bytes), right=True),
        "quant": Cell(mr.info.quantization, mr.info.quantization or DASH),
        "ctx": Cell(mr.info.context_length, fmt_context(mr.info.context_length), right=True),
    }  # fmt: skip
    if any(adjusted(r) for r in mr.records):  # a parameter dropped, a prompt cut: marked
        status = row["status"]
        if len(status.text) + len(ADJUSTED_MARK) <= status_column_width(plan):
            row["status"] = replace(status, text=status.text + ADJUSTED_MARK)
    if not embed and ttft is None and any(r.ok and r.not_streamed for r in runs):
        row["ttft"] = Cell(None, NOT_STREAMED, "yellow", right=True)
    if not embed and tps is None and any(r.ok and r.buffered for r in runs):
        row["tps"] = Cell(None, BUFFERED, "yellow", right=True)
    load = loads.get(mr, plan) if loads is not None else row_load(mr, plan)
    if load is not None or plan.load is not None:
        row.update(load_cells(load))
    if plan.prices is not None:
        cost: float | None
        if mr.summary is not None and mr.summary.cost_usd is not None:
            cost = mr.summary.cost_usd
        else:
            costs = [r.cost_usd for r in runs if r.cost_usd is not None]
            cost = sum(costs) if costs else None
        row["cost"] = Cell(cost, fmt_money(cost), right=True)
    for i in range(1, per_run + 1):
        rec = runs[i - 1] if i <= len(runs) else None
        if rec is None:
            row[f"ttft{i}"] = Cell(None, "", right=True)
            row[f"tps{i}"] = Cell(None, "", right=True)
        elif not rec.ok:
            row[f"ttft{i}"] = Cell(None, "✗", "red", right=True)
            row[f"tps{i}"] = Cell(None, "✗", "red", right=True)
        else:  # an embedding has no TTFT: its latency is in the detail, not here
            row[f"ttft{i}"] = _time_cell(rec.ttft_s)
            row[f"tps{i}"] = _rate_cell(rec.decode_tps)
            if rec.not_streamed:
                row[f"ttft{i}"] = Cell(None, NOT_STREAMED, "yellow", right=True)
            if rec.buffered:
                row[f"tps{i}"] = Cell(None, BUFFERED, "yellow", right=True)
    return row


def _mean(st: Stats | None) -> float | None:
    return st.mean if st is not None else None


# ------------------------------------------------------------------------------- colours


def tercile_styles(values: Mapping[str, Raw], better: Better) -> dict[str, str]:
    """Green / yellow / red for each key by the rank of its value among the others.

    A value's position is the share of other distinct values that beat it: the best is
    green, the worst red, the rest by terciles. Keys with no numeric value, or a column
    with a single value, get no colour; equal values get the same colour.
    """
    if better is Better.NONE:
        return {}
    numeric = {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if len(numeric) < 2:
        return {}
    distinct = sorted(set(numeric.values()), reverse=better is Better.HIGHER)
    if len(distinct) == 1:
        return dict.fromkeys(numeric, GOOD)
    last = len(distinct) - 1
    rank = {v: i / last for i, v in enumerate(distinct)}
    out: dict[str, str] = {}
    for key, value in numeric.items():
        p = rank[value]
        out[key] = GOOD if p < 1 / 3 else (MIDDLE if p <= 2 / 3 else BAD)
    return out


def apply_colours(rows: Mapping[str, Row], columns: Iterable[ColumnSpec]) -> dict[str, Row]:
    """Rows with colour styles set: terciles per numeric column, errors red when > 0."""
    out = {key: dict(row) for key, row in rows.items()}
    for col in columns:
        if col.kind is Kind.ERRORS:
            for row in out.values():
                cell = row.get(col.key)
                if cell is not None and isinstance(cell.raw, int) and cell.raw > 0:
                    row[col.key] = replace(cell, style="bold red")
            continue
        if col.better is Better.NONE:
            continue
        values = {k: row[col.key].raw for k, row in out.items() if col.key in row}
        for key, style in tercile_styles(values, col.better).items():
            cell = out[key][col.key]
            out[key][col.key] = replace(cell, style=style)
    return out


# ------------------------------------------------------------------------------- sorting


def default_descending(column: ColumnSpec) -> bool:
    """The first sort on a column puts the best first: rates descending, times ascending."""
    return column.better is Better.HIGHER


def _sort_value(raw: Raw) -> tuple[int, float | str]:
    if isinstance(raw, bool):
        return (0, float(raw))
    if isinstance(raw, int | float):
        return (0, float(raw)) if math.isfinite(raw) else (0, math.inf)
    return (1, str(raw).casefold())


def sort_order(
    rows: Mapping[str, Row], column: str | None, *, descending: bool = False
) -> list[str]:
    """Row keys ordered by ``column``'s raw values; ``None`` last in both directions.

    Ties, and the missing values at the end, keep the order of ``rows`` (plan order).
    ``column=None`` keeps that order. Never raises on mixed or missing values.
    """
    keys = list(rows)
    if column is None:
        return keys
    present = [k for k in keys if column in rows[k] and rows[k][column].raw is not None]
    missing = [k for k in keys if k not in set(present)]
    present.sort(key=lambda k: _sort_value(rows[k][column].raw), reverse=descending)
    return present + missing


# -------------------------------------------------------------------------------- widget


class ResultsTable(FittedTable):
    """The results of one benchmark plan, one row per model, sortable.

    State flows down: :meth:`show` takes the result (each model's progress, and the
    trends against the history) to render. Events flow up: :class:`SortChanged` when the
    user sorts (the app keeps the sort for the next run), ``DataTable.RowSelected`` when
    a model is chosen, :class:`LegendChanged` when the shown columns change, and
    :class:`CompareRequested` when two marked rows are to be compared.
    """

    HELP_TITLE = "Results table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Mark", show=False, id="results.mark",
                tooltip="Mark or unmark the highlighted row (two to compare)"),
        Binding("C", "compare_marked", "Compare", id="results.compare",
                tooltip="Compare the two marked rows (A: marked first; mark with space)"),
    ]  # fmt: skip

    class CompareRequested(Message):
        """Compare row ``a`` (A) with row ``b`` (B): row keys, as ``result.models``."""

        def __init__(self, a: str, b: str) -> None:
            super().__init__()
            self.a = a
            self.b = b

    class SortChanged(Message):
        def __init__(self, key: str | None, descending: bool) -> None:
            super().__init__()
            self.key = key
            self.descending = descending

    class LegendChanged(Message):
        def __init__(self, legend: Text) -> None:
            super().__init__()
            self.legend = legend

    def __init__(
        self,
        plan: BenchmarkPlan,
        *,
        sort: tuple[str | None, bool] = (None, False),
        id: str | None = None,
    ) -> None:
        self.plan = plan
        self._per_run = False
        self._errors = False
        self._shown_runs = per_run_count(plan)
        self._result_columns = columns_for_view(plan, per_run=False)
        super().__init__([c.fit_column() for c in self._result_columns], sortable=True, id=id)
        self._sort = sort
        self.set_sort_indicator(*sort)
        self._result: BenchmarkResult | None = None
        self._progress: Mapping[str, Progress] = {}
        #: the rows as last shown, with raw values (tests and sorting read them)
        self.model_rows: dict[str, Row] = {}
        self._legend = Text()
        self._trends: Mapping[str, Trend] = {}
        self._trend_legend = ""
        self._adjusted = False  # some row's requests were sent changed (issue #14)
        #: the load's mode from the saved figures, for a plan without a load (history)
        self._saved_load: str | None = None
        self._loads = LiveLoads()  # each row's load figures, recomputed when they move
        #: marked row keys (two to compare), the first marked first
        self.marked: list[str] = []

    # ------------------------------------------------------------------ state down

    def show(
        self,
        result: BenchmarkResult,
        progress: Mapping[str, Progress],
        trends: Mapping[str, Trend] | None = None,
    ) -> None:
        """Render ``result`` (with ``trends`` per row key, from the history): only
        changed cells are repainted; the sort is kept."""
        self._result = result
        self._progress = progress
        self._trends = trends or {}
        self.marked = [k for k in self.marked if k in result.models]
        errors = any(
            r for m in result.models.values() for r in m.records if not r.ok and not r.warmup
        )
        legend = trend_legend(self._trends) if self._trends else ""
        saved_load = None
        if self.plan.load is None:  # a result from the history: its saved load figures
            saved_load = load_mode(self.plan, (m.summary.load for m in result.models.values()
                                               if m.summary is not None))  # fmt: skip
        if (errors, legend, saved_load) != (self._errors, self._trend_legend, self._saved_load):
            self._errors = errors
            self._trend_legend = legend
            self._saved_load = saved_load
            self._set_specs()
        self._adjusted = any(adjusted(r) for m in result.models.values() for r in m.records)
        self._render_rows()
        self._post_legend()

    def _render_rows(self) -> None:
        result = self._result
        if result is None:
            return
        per_run = per_run_count(self.plan) if self._per_run else 0
        rows = {
            name: build_row(
                mr, self.plan, progress=self._progress.get(name), per_run=per_run, loads=self._loads
            )
            for name, mr in result.models.items()
        }
        if self._trend_legend and not per_run:
            for name, row in rows.items():
                row.update(trend_cells(self._trends.get(name)))
        self.model_rows = apply_colours(rows, self._result_columns)
        key, descending = self._sort
        order = sort_order(self.model_rows, key, descending=descending)
        shown = {k: {c: cell.render() for c, cell in self.model_rows[k].items()} for k in order}
        for letter, marked in zip("AB", self.marked, strict=False):
            if marked in shown:
                status = shown[marked]["status"]
                shown[marked]["status"] = Text.assemble((letter, "bold reverse"), " ", status)
        self.show_rows(shown)

    def _set_specs(self) -> None:
        self._result_columns = columns_for_view(
            self.plan, per_run=self._per_run, errors=self._errors, shown_runs=self._shown_runs,
            trends=self._trend_legend, load=self._saved_load,
        )  # fmt: skip
        self.set_columns([c.fit_column() for c in self._result_columns])
        self._post_legend()

    def _post_legend(self) -> None:
        shown = set(self.visible_columns)
        legend = legend_text(
            [c for c in self._result_columns if c.key in shown],
            per_run_shown=self._shown_runs if self._per_run else 0,
            per_run_total=per_run_count(self.plan) if self._per_run else 0,
            adjusted=self._adjusted,
        )
        if legend.plain != self._legend.plain:
            self._legend = legend
            self.post_message(self.LegendChanged(legend))

    @on(FittedTable.Refitted)
    def _refitted(self, event: FittedTable.Refitted) -> None:
        event.stop()
        self._post_legend()

    def on_resize(self, event: events.Resize) -> None:
        # (FittedTable's own handler runs after this one and fits the columns)
        if self._per_run:
            runs = per_run_fit(self.plan, self._available())
            if runs != self._shown_runs:
                self._shown_runs = runs
                self._set_specs()

    # ------------------------------------------------------------------------ view

    @property
    def per_run(self) -> bool:
        return self._per_run

    def toggle_per_run(self) -> None:
        self._per_run = not self._per_run
        self._shown_runs = per_run_fit(self.plan, self._available())
        self._set_specs()
        self._render_rows()
        self._post_legend()

    @property
    def sort_state(self) -> tuple[str | None, bool]:
        return self._sort

    def sort_choices(self) -> list[tuple[str, str]]:
        """(column key, title) of every column shown, for "Sort by <column>"."""
        return [(c.key, column_title(c.key)) for c in self.columns_shown]

    @property
    def columns_shown(self) -> list[ColumnSpec]:
        shown = set(self.visible_columns)
        return [c for c in self._result_columns if c.key in shown]

    def sort_by(self, key: str | None, descending: bool | None = None) -> None:
        """Sort by ``key`` (best first unless ``descending`` says otherwise)."""
        spec = next((c for c in self._result_columns if c.key == key), None)
        if key is not None and spec is None:
            every = base_columns(self.plan, errors=True, load=self._saved_load)
            spec = next((c for c in every if c.key == key), None)
        if descending is None:
            descending = default_descending(spec) if spec is not None else False
        self._sort = (key, descending)
        self.set_sort_indicator(key, descending)
        self._render_rows()
        self.post_message(self.SortChanged(key, descending))

    def sort_step(self, step: int) -> None:
        """Sort by the next shown column to the right (``step=1``) or left (``-1``)."""
        cols = self.columns_shown
        if not cols:
            return
        keys = [c.key for c in cols]
        current = self._sort[0]
        index = keys.index(current) + step if current in keys else (0 if step > 0 else -1)
        self.sort_by(cols[index % len(cols)].key)

    def reverse_sort(self) -> None:
        key, descending = self._sort
        if key is None:
            self.sort_step(1)
            return
        self.sort_by(key, not descending)

    # ------------------------------------------------------------------- marks

    def action_toggle_mark(self) -> None:
        """Mark or unmark the highlighted row; a third mark replaces the oldest."""
        key = self.highlighted_key
        if key is None:
            return
        marked = [k for k in self.marked if k != key]
        self.marked = marked if key in self.marked else [*marked, key][-2:]
        self._render_rows()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # C is in the footer once a row is marked (the palette always offers it); c is the
        # screen's charts key
        if action == "compare_marked":
            return bool(self.marked)
        return True

    def action_compare_marked(self) -> None:
        if len(self.marked) != 2:
            self.app.notify("Mark two rows with space, then press C.", severity="warning")
            return
        self.post_message(self.CompareRequested(*self.marked))

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key == self._sort[0]:
            self.sort_by(key, not self._sort[1])
        else:
            self.sort_by(key)
