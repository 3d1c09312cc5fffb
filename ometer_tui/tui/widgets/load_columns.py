"""The results table's load columns: a benchmark with a load (``plan.load``) shows, per
row and live, the achieved request rate against the offered one, the schedule lag p99,
the most requests in flight, and the mean input and output tokens against those asked.

The figures are the core's (:func:`~ometer_tui.core.bench.workloads.summary.
live_load_summary`): the runner's own summary once a model is done, meanwhile the same
rule on the runs finished so far; the model detail, the exports and headless show the
same :class:`~ometer_tui.core.bench.workloads.summary.LoadSummary`. Here they are only
laid out. A figure the runs do not back yet is blank (``—``), never 0: the achieved rate
below two sends, the lag p99 below five (and for a closed loop, which has no timetable,
there is no lag column), the lengths before an ok run. Requests in flight *now* are not
per model (a run has a record only once it ends): the header shows the live count, from
the engine workers' reports; the column shows the most a model had at once, known when
its load ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import ModelResult
from ometer_tui.core.bench.workloads.lengths import LengthSpec, Pairs, bounds
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.summary import LoadSummary, live_load_summary
from ometer_tui.tui.formatting import DASH, fmt_rate, fmt_seconds
from ometer_tui.tui.widgets.results_cells import Better, Cell, ColumnSpec, Kind, Row

OPEN, CLOSED = "open", "closed"

#: What each load column is called in words (the command palette's "Sort by ...").
LOAD_TITLES = {
    "req_s": "achieved request rate (req/s)",
    "lag_p99": "schedule lag p99",
    "in_flight": "most requests in flight",
    "in_tok": "input tokens (mean)",
    "out_tok": "output tokens (mean)",
}
IN_LEGEND, OUT_LEGEND = "in tok: mean got/asked", "out tok: mean got/asked"
LAG_LEGEND = "lag p99: send − timetable (n ≥ 5)"
IN_FLIGHT_LEGEND = "max infl: most in flight (at the end; now: header)"
#: The ``±`` (TTFT spread) column's priority beside load columns: dropped before the
#: lengths (its own is 2)
LOAD_SD_PRIORITY = 5
#: Room for a length got/asked (``1234/1234``) when the asked one is not known up front
#: (a dataset's answer lengths)
TOKENS_WIDTH = 9
#: Room for a length got when none is asked (``12345``)
GOT_WIDTH = 5


def load_mode(plan: BenchmarkPlan, saved: Iterable[object] = ()) -> str | None:
    """``open`` (a timetable), ``closed`` (streams) or ``None`` (no load: no columns).

    From the plan's load; a plan without one (a result opened from the history keeps no
    load in its plan) takes the mode of its models' saved load figures (``saved``: each
    model summary's ``load``)."""
    if plan.load is not None:
        return OPEN if plan.load.arrival is not None else CLOSED
    modes = {load.mode for load in saved if isinstance(load, LoadSummary)}
    return OPEN if OPEN in modes else (CLOSED if modes else None)


def offered_rate(plan: BenchmarkPlan) -> float | None:
    load = plan.load
    return load.arrival.rate if load is not None and load.arrival is not None else None


def rate_text(achieved: float | None, offered: float | None) -> str:
    """``19.8/20`` (achieved of offered), ``19.8`` for a closed loop, ``—`` too few."""
    if achieved is None:
        return DASH
    return fmt_rate(achieved) + (f"/{offered:g}" if offered else "")


def length_text(actual: float | None, asked: float | None) -> str:
    """``498/512`` (mean got/asked), ``498`` when no length was asked, ``—`` none yet."""
    if actual is None:
        return DASH
    return f"{actual:.0f}" + (f"/{asked:.0f}" if asked is not None else "")


def _most(spec: LengthSpec | None, which: int = 0) -> int | None:
    """The longest length ``spec`` asks (``which``: 0 input, 1 output of a pairs spec)."""
    return None if spec is None else bounds(spec, which)[1]


def length_widths(load: LoadSpec | None) -> tuple[int, int]:
    """Room for the input and output ``got/asked`` cells: what the load asks at most (and
    twice that got), a length got alone when none is asked; unknown (a dataset's answer
    lengths, a result from the history): :data:`TOKENS_WIDTH`."""
    if load is None:
        return TOKENS_WIDTH, TOKENS_WIDTH
    pairs = isinstance(load.input_tokens, Pairs)
    asked_in = _most(load.input_tokens)
    asked_out = _most(load.input_tokens, 1) if pairs else _most(load.output_tokens)
    widths = [GOT_WIDTH if most is None else len(length_text(2 * most, most))
              for most in (asked_in, asked_out)]  # fmt: skip
    if asked_out is None and load.dataset is not None:  # its answers' lengths are asked
        widths[1] = TOKENS_WIDTH
    return widths[0], widths[1]


def load_columns(plan: BenchmarkPlan, mode: str | None) -> list[ColumnSpec]:
    """The load columns, in display order (none without a load).

    Priorities (larger dropped first on narrow terminals; ``err`` is never dropped):
    the achieved rate right after the always-shown figures, the lag p99 with e2e, the
    output length with TTFT p99, then with p90 the input length (the tool makes
    synthetic prompts to the asked length; an answer's length is the server's) and the
    most in flight (a figure known only at the end, the live count being in the header),
    then the ``±`` (:data:`LOAD_SD_PRIORITY`)."""
    if mode is None:
        return []
    offered = offered_rate(plan)
    rate_width = len(rate_text(offered * 1.25, offered)) if offered else 6
    legend = "req/s: achieved" + ("/offered" if mode == OPEN else "")
    in_width, out_width = length_widths(plan.load)
    cols = [ColumnSpec("req_s", "req/s", rate_width, Kind.RATE, Better.HIGHER, 1, legend)]
    if mode == OPEN:
        cols.append(ColumnSpec("lag_p99", "lag p99", 7, Kind.TIME, Better.LOWER, 2, LAG_LEGEND))
    return [
        *cols,
        ColumnSpec("in_tok", "in tok", in_width, Kind.COUNT, priority=4, legend=IN_LEGEND),
        ColumnSpec("out_tok", "out tok", out_width, Kind.COUNT, priority=3, legend=OUT_LEGEND),
        ColumnSpec("in_flight", "max infl", 4, Kind.COUNT, priority=4, legend=IN_FLIGHT_LEGEND),
    ]  # fmt: skip


def row_load(mr: ModelResult, plan: BenchmarkPlan) -> LoadSummary | None:
    """One row's load figures: the core's rule, live or final (see the module doc)."""
    final = mr.summary.load if mr.summary is not None else None
    return live_load_summary(mr.records, plan.load, final)


#: A running row with more runs than this has its load figures recomputed at most once
#: per :data:`SLOW_REFRESH_S` (12,000 runs take ~70 ms here: 200 requests/s for a minute)
MANY_RUNS = 2000
SLOW_REFRESH_S = 1.0


@dataclass(slots=True)
class _Computed:
    records: list[RunRecord]  # the list they were computed from (a re-run has another)
    n: int
    at: float
    load: LoadSummary | None


class LiveLoads:
    """Each row's load figures for the table (:func:`row_load`), kept between refreshes:
    recomputed when the row's runs changed, and for a row of more than
    :data:`MANY_RUNS` runs at most once per :data:`SLOW_REFRESH_S` (the summary walks
    every run). A finished model's own summary is taken as it is."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rows: dict[int, _Computed] = {}

    def get(self, mr: ModelResult, plan: BenchmarkPlan) -> LoadSummary | None:
        final = mr.summary.load if mr.summary is not None else None
        if isinstance(final, LoadSummary):
            return final  # the runner's own, once the model is done
        now, n = self._clock(), len(mr.records)
        kept = self._rows.get(id(mr))
        fresh = (
            kept is not None
            and kept.records is mr.records
            and (kept.n == n or (kept.n > MANY_RUNS and now - kept.at < SLOW_REFRESH_S))
        )
        if kept is not None and fresh:
            return kept.load
        load = row_load(mr, plan)
        self._rows[id(mr)] = _Computed(mr.records, n, now, load)
        return load


def load_cells(load: LoadSummary | None) -> Row:
    """The load cells of one row; raw values are the figures (sorting reads them)."""
    if load is None:
        return {key: Cell(None, DASH, right=True) for key in LOAD_TITLES}
    lag = load.schedule_lag_p99_s
    peak = load.peak_in_flight
    return {
        "req_s": Cell(load.achieved_rate, rate_text(load.achieved_rate, load.offered_rate),
                      right=True),
        "lag_p99": Cell(lag, fmt_seconds(lag), right=True),
        "in_flight": Cell(peak, DASH if peak is None else str(peak), right=True),
        "in_tok": Cell(load.input_tokens_actual_mean, length_text(
            load.input_tokens_actual_mean, load.input_tokens_asked_mean), right=True),
        "out_tok": Cell(load.output_tokens_actual_mean, length_text(
            load.output_tokens_actual_mean, load.output_tokens_asked_mean), right=True),
    }  # fmt: skip
