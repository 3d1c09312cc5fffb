"""The results table's logic, without an App: rows, formatting, colours, sorting, diffing.

The results screen keeps one row per model, keyed by the model name. Every cell carries
its raw value beside its display text (:class:`Cell`); sorting and colouring read the raw
value, never the formatted string. The screen asks :func:`diff_rows` which cells changed
and updates only those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from rich.text import Text

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import FEW_VALUES, stats_of
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord, Stats
from ometer_tui.core.bench.result import ModelResult

DASH = "—"
#: Short cell texts for runs that have no rate (buffered) or no TTFT (not streamed);
#: the model detail and the exports say it in full.
BUFFERED = "buffrd"
NOT_STREAMED = "no strm"
#: Per-run columns are shown for at most this many measured runs per model.
MAX_PER_RUN_COLUMNS = 12
#: With fewer measured values than this, percentiles are not shown (metrics.md).
MIN_N_FOR_PERCENTILES = FEW_VALUES

Raw = float | int | str | None

GOOD, MIDDLE, BAD = "green", "yellow", "red"


class Kind(StrEnum):
    TEXT = "text"
    STATUS = "status"
    TIME = "time"  # seconds
    RATE = "rate"  # tokens per second
    COUNT = "count"
    ERRORS = "errors"
    MONEY = "money"
    BYTES = "bytes"
    CONTEXT = "context"


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    key: str
    label: str
    width: int
    kind: Kind = Kind.TEXT
    better: Better = Better.NONE
    #: 0 = always shown; larger numbers are dropped first on narrow terminals
    priority: int = 0

    @property
    def numeric(self) -> bool:
        return self.kind not in (Kind.TEXT, Kind.STATUS)

    @property
    def render_width(self) -> int:
        """Width in cells: room for the content and for the label plus a sort arrow."""
        return max(self.width, len(self.label) + 2)


@dataclass(frozen=True, slots=True)
class Cell:
    raw: Raw
    text: str
    style: str = ""
    right: bool = False

    def render(self) -> Text:
        """A ``Text`` (never markup-parsed: model names may contain ``[``)."""
        return Text(self.text, style=self.style, justify="right" if self.right else "left")

    @property
    def shown(self) -> tuple[str, str]:
        """What the user sees: two cells with the same ``shown`` need no repaint."""
        return (self.text, self.style)


Row = dict[str, Cell]


# --------------------------------------------------------------------------- formatting


def fmt_seconds(value: float | None) -> str:
    """Milliseconds below 10 s (``"30.4 ms"``, ``"812 ms"``), seconds above (``"12.3 s"``)."""
    if value is None or not math.isfinite(value):
        return DASH
    if value < 10.0:
        ms = value * 1000.0
        if ms < 100.0:
            return f"{ms:.1f} ms"
        return f"{ms:.0f} ms"
    if value < 1000.0:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def fmt_rate(value: float | None) -> str:
    """Tokens per second with one decimal."""
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 100_000:
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_count(value: int | None) -> str:
    return DASH if value is None else str(value)


def fmt_money(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:.2f}"


def fmt_bytes(value: int | None) -> str:
    """Decimal units, as model registries show them (``"4.9 GB"``)."""
    if value is None:
        return DASH
    if value >= 1_000_000_000:
        return f"{value / 1e9:.1f} GB"
    if value >= 1_000_000:
        return f"{value / 1e6:.0f} MB"
    if value >= 1_000:
        return f"{value / 1e3:.0f} kB"
    return f"{value} B"


def fmt_context(value: int | None) -> str:
    """``131072`` -> ``"128k"``."""
    if value is None:
        return DASH
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}k"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return str(value)


# ------------------------------------------------------------------------------ columns


def base_columns(plan: BenchmarkPlan) -> list[ColumnSpec]:
    """The aggregate columns, in display order, sized up front."""
    name_width = max((len(m.name) for m in plan.models), default=10)
    n = plan.runs_per_model
    status_width = max(len("cancelled"), len(f"running {n}/{n}"))
    cols = [
        ColumnSpec("status", "status", status_width, Kind.STATUS, priority=0),
        ColumnSpec("model", "model", min(max(name_width, 10), 36), Kind.TEXT, priority=0),
        ColumnSpec("ttft", "TTFT", 7, Kind.TIME, Better.LOWER, priority=0),
        ColumnSpec("vttft", "vTTFT", 7, Kind.TIME, Better.LOWER, priority=3),
        ColumnSpec("tps", "tok/s", 7, Kind.RATE, Better.HIGHER, priority=0),
        ColumnSpec("srv_tps", "srv t/s", 7, Kind.RATE, Better.HIGHER, priority=3),
        ColumnSpec("e2e", "e2e", 7, Kind.TIME, Better.LOWER, priority=1),
        ColumnSpec("p50", "p50", 7, Kind.TIME, Better.LOWER, priority=4),
        ColumnSpec("p90", "p90", 7, Kind.TIME, Better.LOWER, priority=5),
        ColumnSpec("p99", "p99", 7, Kind.TIME, Better.LOWER, priority=2),
        ColumnSpec("ok", "ok", 3, Kind.COUNT, priority=0),
        ColumnSpec("err", "err", 3, Kind.ERRORS, priority=0),
        ColumnSpec("tokens", "tokens", 6, Kind.COUNT, priority=6),
    ]
    if plan.prices is not None:
        cols.append(ColumnSpec("cost", "cost", 8, Kind.MONEY, Better.LOWER, priority=2))
    cols += [
        ColumnSpec("size", "size", 7, Kind.BYTES, priority=7),
        ColumnSpec("quant", "quant", 7, Kind.TEXT, priority=8),
        ColumnSpec("ctx", "ctx", 5, Kind.CONTEXT, priority=9),
    ]
    return cols


def per_run_count(plan: BenchmarkPlan) -> int:
    return max(0, min(plan.runs_per_model, MAX_PER_RUN_COLUMNS))


def per_run_columns(n: int) -> list[ColumnSpec]:
    ttft = [
        ColumnSpec(f"ttft{i}", f"TTFT{i}", 7, Kind.TIME, Better.LOWER, priority=1)
        for i in range(1, n + 1)
    ]
    tps = [
        ColumnSpec(f"tps{i}", f"TPS{i}", 7, Kind.RATE, Better.HIGHER, priority=1)
        for i in range(1, n + 1)
    ]
    return ttft + tps


#: Aggregate columns kept beside the per-run columns in the per-run view.
PER_RUN_VIEW_KEEPS = ("status", "model", "ttft", "tps", "ok", "err")


def columns_for_view(plan: BenchmarkPlan, *, per_run: bool) -> list[ColumnSpec]:
    base = base_columns(plan)
    if not per_run:
        return base
    kept = [c for c in base if c.key in PER_RUN_VIEW_KEEPS]
    return kept + per_run_columns(per_run_count(plan))


def fit_columns(
    columns: Sequence[ColumnSpec], available: int, *, padding: int = 1
) -> list[ColumnSpec]:
    """The columns that fit in ``available`` cells, least important dropped first.

    Priority-0 columns are always kept (the table scrolls sideways if even they do not
    fit); the others are added by importance (lower priority number first) until one
    does not fit. Display order is preserved.
    """
    if available <= 0:
        return list(columns)
    used = sum(c.render_width + 2 * padding for c in columns if c.priority == 0)
    keep = {c.key for c in columns if c.priority == 0}
    optional = sorted(
        (c for c in columns if c.priority > 0),
        key=lambda c: (c.priority, columns.index(c)),
    )
    for col in optional:
        need = col.render_width + 2 * padding
        if used + need > available:
            break  # strictly by importance: never a minor column in place of a major one
        used += need
        keep.add(col.key)
    return [c for c in columns if c.key in keep]


# ---------------------------------------------------------------------------- statistics


def measured(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Measured (non-warm-up) records in plan order (pass, then prompt)."""
    return sorted(
        (r for r in records if not r.warmup), key=lambda r: (r.pass_index, r.prompt_index)
    )


def metric_stats(mr: ModelResult, metric: str) -> Stats | None:
    """The engine's statistics for ``metric`` once it summarised the model, else live ones."""
    if mr.summary is not None and metric in mr.summary.metrics:
        return mr.summary.metrics[metric]
    values: list[float] = []
    for rec in measured(mr.records):
        if not rec.ok:
            continue
        value = getattr(rec, metric, None)
        if isinstance(value, int | float):
            values.append(float(value))
    return stats_of(values)


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


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int


def status_cell(phase: ModelPhase, progress: Progress | None) -> Cell:
    text = str(phase)
    if phase is ModelPhase.RUNNING and progress is not None:
        text = f"running {progress.done}/{progress.total}"
    return Cell(PHASE_ORDER[phase], text, PHASE_STYLE[phase])


def _time_cell(value: float | None) -> Cell:
    return Cell(value, fmt_seconds(value), right=True)


def _rate_cell(value: float | None) -> Cell:
    return Cell(value, fmt_rate(value), right=True)


def _is_embedding(mr: ModelResult) -> bool:
    return any(r.latency_s is not None for r in mr.records) and not any(
        r.ttft_s is not None for r in mr.records
    )


def build_row(
    mr: ModelResult,
    plan: BenchmarkPlan,
    *,
    progress: Progress | None = None,
    per_run: int = 0,
) -> Row:
    """Every column's cell for one model (uncoloured; see :func:`apply_colours`)."""
    runs = measured(mr.records)
    ok = sum(1 for r in runs if r.ok)
    errors = len(runs) - ok
    if mr.summary is not None:
        ok, errors = mr.summary.ok, mr.summary.errors

    ttft = metric_stats(mr, "ttft_s")
    vttft = metric_stats(mr, "ttft_visible_s")
    tps = metric_stats(mr, "decode_tps")
    srv = metric_stats(mr, "server_decode_tps")
    e2e = metric_stats(mr, "e2e_s")
    if e2e is None and _is_embedding(mr):
        e2e = metric_stats(mr, "latency_s")

    def pct(which: str) -> Cell:
        if ttft is None or ttft.n < MIN_N_FOR_PERCENTILES:
            return Cell(None, DASH, right=True)
        return _time_cell(getattr(ttft, which))

    if mr.summary is not None:
        tokens = mr.summary.output_tokens
        estimated = mr.summary.tokens_estimated
    else:
        tokens = sum(r.output_tokens or 0 for r in runs)
        estimated = any(r.tokens_source == "chunks" for r in runs)
    has_tokens = any(r.output_tokens is not None for r in runs)

    ttft_cell = _time_cell(ttft.mean if ttft else None)
    tps_cell = _rate_cell(tps.mean if tps else None)
    if ttft is None and any(r.ok and r.not_streamed for r in runs):
        ttft_cell = Cell(None, NOT_STREAMED, "yellow", right=True)
    if tps is None and any(r.ok and r.buffered for r in runs):
        tps_cell = Cell(None, BUFFERED, "yellow", right=True)
    row: Row = {
        "status": status_cell(mr.phase, progress),
        "model": Cell(mr.info.name, mr.info.name, "bold"),
        "ttft": ttft_cell,
        "vttft": _time_cell(vttft.mean if vttft else None),
        "tps": tps_cell,
        "srv_tps": _rate_cell(srv.mean if srv else None),
        "e2e": _time_cell(e2e.mean if e2e else None),
        "p50": pct("p50"),
        "p90": pct("p90"),
        "p99": pct("p99"),
        "ok": Cell(ok, str(ok), right=True),
        "err": Cell(errors, str(errors), right=True),
        "tokens": Cell(
            tokens if has_tokens else None,
            (f"~{tokens}" if estimated else str(tokens)) if has_tokens else DASH,
            right=True,
        ),
        "size": Cell(mr.info.size_bytes, fmt_bytes(mr.info.size_bytes), right=True),
        "quant": Cell(mr.info.quantization, mr.info.quantization or DASH),
        "ctx": Cell(mr.info.context_length, fmt_context(mr.info.context_length), right=True),
    }
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
        else:
            first = rec.ttft_s if rec.ttft_s is not None else rec.latency_s
            row[f"ttft{i}"] = _time_cell(first)
            row[f"tps{i}"] = _rate_cell(rec.decode_tps)
            if rec.not_streamed:
                row[f"ttft{i}"] = Cell(None, NOT_STREAMED, "yellow", right=True)
            if rec.buffered:
                row[f"tps{i}"] = Cell(None, BUFFERED, "yellow", right=True)
    return row


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


# ------------------------------------------------------------------------------- diffing


@dataclass(slots=True)
class TableDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: (row key, column key, new cell) for cells whose text or style changed
    changed: list[tuple[str, str, Cell]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_rows(
    old: Mapping[str, Row], new: Mapping[str, Row], columns: Iterable[str]
) -> TableDiff:
    """What to do to a table showing ``old`` so that it shows ``new`` (for ``columns``)."""
    cols = list(columns)
    diff = TableDiff(
        added=[k for k in new if k not in old],
        removed=[k for k in old if k not in new],
    )
    for key, row in new.items():
        before = old.get(key)
        if before is None:
            continue
        for col in cols:
            cell = row.get(col)
            if cell is None:
                continue
            prev = before.get(col)
            if prev is None or prev.shown != cell.shown:
                diff.changed.append((key, col, cell))
    return diff


def header_label(column: ColumnSpec, *, sorted_by: str | None, descending: bool) -> Text:
    label = column.label
    if sorted_by == column.key:
        label = f"{label} {'▼' if descending else '▲'}"
    return Text(label, style="bold" if sorted_by == column.key else "", justify="left")
