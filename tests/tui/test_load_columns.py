"""The results table's load columns (issue #11, section 3): achieved request rate of
the offered, schedule lag p99, most requests in flight, input and output tokens got
against asked; only for a plan with a load, blank (never 0) without enough runs, sorted
on raw values with blanks last, dropped before ``err`` on narrow terminals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from textual.app import App, ComposeResult

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.record import LoadStamp
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.bench.workloads.summary import summarise_load
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.formatting import DASH
from ometer_tui.tui.widgets.fitted_table import fit_widths
from ometer_tui.tui.widgets.load_columns import LOAD_TITLES, MANY_RUNS, LiveLoads
from ometer_tui.tui.widgets.results_table import (
    ResultsTable,
    apply_colours,
    base_columns,
    build_row,
    columns_for_view,
    legend_text,
    sort_order,
)
from tests.tui.test_results_screen import SIZE, Host, make_plan, wait_done

ENDPOINT = Endpoint(name="t", url="http://127.0.0.1:1")
OPEN = LoadSpec(
    arrival=ArrivalSpec(20.0, ArrivalKind.CONSTANT),
    stop=StopConditions(max_requests=20),
    input_tokens=Fixed(256),
    output_tokens=Fixed(32),
)
CLOSED = LoadSpec(stop=StopConditions(max_requests=20))
LOAD_KEYS = set(LOAD_TITLES)


def plan(*names: str, load: LoadSpec | None = OPEN) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=ENDPOINT, models=tuple(ModelInfo(name=n) for n in names), passes=1, load=load
    )


def run(model: str, i: int, *, gap: float = 0.05, lag: float | None = 0.001) -> RunRecord:
    """Run ``i`` of a load sent every ``gap`` s (``lag``: its schedule lag, ``None`` for
    a send with no timetable)."""
    return RunRecord(
        model=model,
        pass_index=1,
        prompt_index=0,
        warmup=False,
        ok=True,
        ttft_s=0.05,
        e2e_s=0.3,
        decode_tps=100.0,
        output_tokens=31,
        prompt_tokens=255,
        tokens_source="usage",
        started_at_s=i * gap,
        load=LoadStamp(
            conversation=i,
            intended_at_s=None if lag is None else i * gap - lag,
            schedule_lag_s=lag,
            input_tokens_asked=256,
            output_tokens_asked=32,
        ),
    )


def model(p: BenchmarkPlan, name: str, records: list[RunRecord]) -> ModelResult:
    info = next(m for m in p.models if m.name == name)
    return ModelResult(info=info, phase=ModelPhase.RUNNING, records=records)


# ------------------------------------------------------------------------------- columns


def test_columns_only_with_a_load_and_lag_only_for_an_open_loop() -> None:
    assert not LOAD_KEYS & {c.key for c in base_columns(plan("a", load=None))}
    open_keys = [c.key for c in base_columns(plan("a"))]
    assert [k for k in open_keys if k in LOAD_KEYS] == [
        "req_s", "lag_p99", "in_tok", "out_tok", "in_flight"
    ]  # fmt: skip
    assert open_keys.index("req_s") > open_keys.index("err")  # after the run counts
    closed = {c.key for c in base_columns(plan("a", load=CLOSED))}
    assert LOAD_KEYS - closed == {"lag_p99"}  # a closed loop has no timetable


def test_headers_say_their_units() -> None:
    labels = {c.key: c.label for c in base_columns(plan("a"))}
    assert (labels["req_s"], labels["lag_p99"]) == ("req/s", "lag p99")
    assert (labels["in_tok"], labels["out_tok"]) == ("in tok", "out tok")


def test_narrow_tables_drop_load_columns_before_err() -> None:
    cols = base_columns(plan("a"))
    naturals = {c.key: c.render_width for c in cols}
    fits = [c.fit_column() for c in cols]
    at_60 = fit_widths(fits, naturals, 60)
    assert "err" in at_60 and "ok" in at_60
    assert not LOAD_KEYS & set(at_60)
    # wider: the achieved rate comes first, then the lag, then the output length
    order = [k for k in ("req_s", "lag_p99", "out_tok", "in_tok", "in_flight")]
    shown = [set(fit_widths(fits, naturals, width)) & LOAD_KEYS for width in range(60, 200)]
    firsts = [next(i for i, keys in enumerate(shown) if key in keys) for key in order]
    assert firsts == sorted(firsts) and firsts[0] < firsts[-1]
    assert shown[-1] == LOAD_KEYS


def test_legend_explains_only_the_columns_shown() -> None:
    cols = base_columns(plan("a"))
    without_lag = legend_text([c for c in cols if c.key != "lag_p99"]).plain
    assert "req/s: achieved/offered" in without_lag and "lag p99" not in without_lag
    assert "lag p99: " in legend_text(cols).plain
    assert "req/s" not in legend_text(base_columns(plan("a", load=None))).plain
    closed = legend_text(base_columns(plan("a", load=CLOSED))).plain
    assert "req/s: achieved" in closed and "/offered" not in closed
    # the lengths: one entry for both, each alone when the other is dropped
    assert "in/out tok: mean got/asked" in legend_text(cols).plain
    out_only = legend_text([c for c in cols if c.key != "in_tok"]).plain
    assert "out tok: mean got/asked" in out_only and "in tok" not in out_only


# ---------------------------------------------------------------------------------- cells


def test_cells_of_a_running_open_loop() -> None:
    p = plan("a")
    row = build_row(model(p, "a", [run("a", i) for i in range(6)]), p)
    assert row["req_s"].text == "20.0/20" and abs(float(row["req_s"].raw or 0) - 20.0) < 1e-9
    assert row["lag_p99"].text == "1.0 ms"
    assert (row["in_tok"].text, row["in_tok"].raw) == ("255/256", 255)
    assert (row["out_tok"].text, row["out_tok"].raw) == ("31/32", 31)
    # the most in flight is known when the model's load ends; the header has the live count
    assert (row["in_flight"].text, row["in_flight"].raw) == (DASH, None)


def test_too_few_runs_are_blank_not_zero() -> None:
    p = plan("a")
    none = build_row(model(p, "a", []), p)
    assert all(none[k].raw is None and none[k].text == DASH for k in LOAD_KEYS)
    one = build_row(model(p, "a", [run("a", 0)]), p)
    assert one["req_s"].raw is None and one["req_s"].text == DASH  # a rate needs 2 sends
    four = build_row(model(p, "a", [run("a", i) for i in range(4)]), p)
    assert four["lag_p99"].raw is None and four["lag_p99"].text == DASH  # p99 needs 5
    assert four["req_s"].raw is not None and four["out_tok"].text == "31/32"


def test_a_run_whose_lag_is_unknown_shows_blank() -> None:
    # runs sent with no timetable (lag unknown) in an open-loop table: blank, not 0
    p = plan("a")
    row = build_row(model(p, "a", [run("a", i, lag=None) for i in range(8)]), p)
    assert row["lag_p99"].raw is None and row["lag_p99"].text == DASH
    assert row["req_s"].raw is not None
    # a closed loop: the row has a rate but no offered one
    c = plan("a", load=CLOSED)
    closed = build_row(model(c, "a", [run("a", i, lag=None) for i in range(8)]), c)
    assert closed["req_s"].text == "20.0"


def test_a_finished_model_shows_the_runners_summary() -> None:
    p = plan("a")
    records = [run("a", i) for i in range(6)]
    mr = model(p, "a", records)
    row_live = build_row(mr, p)
    mr.summary = summarise("a", records, None)
    mr.summary.load = summarise_load(
        records, mode="open", offered_rate=20.0, max_in_flight=4, stop_reason="6 requests sent"
    )
    mr.phase = ModelPhase.DONE
    row = build_row(mr, p)
    assert (row["in_flight"].text, row["in_flight"].raw) == ("4", 4)
    assert row["req_s"] == row_live["req_s"]  # one rule, live and final


def test_sorting_numbers_as_numbers_blanks_last() -> None:
    p = plan("slow", "fast", "new", "lagged")
    rows = {
        "slow": build_row(model(p, "slow", [run("slow", i, gap=0.2) for i in range(6)]), p),
        # 10.0 req/s sorts above 5.0 (as text "10.0" < "5.0")
        "fast": build_row(model(p, "fast", [run("fast", i, gap=0.1) for i in range(6)]), p),
        "new": build_row(model(p, "new", [run("new", 0)]), p),  # no rate yet
        "lagged": build_row(
            model(p, "lagged", [run("lagged", i, gap=0.5, lag=0.02) for i in range(6)]), p
        ),
    }
    assert sort_order(rows, "req_s") == ["lagged", "slow", "fast", "new"]
    assert sort_order(rows, "req_s", descending=True) == ["fast", "slow", "lagged", "new"]
    assert sort_order(rows, "lag_p99") == ["slow", "fast", "lagged", "new"]
    assert sort_order(rows, "lag_p99", descending=True)[-1] == "new"
    coloured = apply_colours(rows, base_columns(p))
    assert coloured["fast"]["req_s"].style == "green"  # higher achieved rate is better
    assert coloured["lagged"]["lag_p99"].style == "red"


def test_a_saved_result_without_the_plans_load_gets_its_columns() -> None:
    # the history keeps no load in the plan: the columns come from the saved figures
    cols = {c.key for c in columns_for_view(plan("a", load=None), per_run=False, load="open")}
    assert cols >= LOAD_KEYS


def test_live_figures_follow_new_runs_and_a_big_load_refreshes_once_a_second() -> None:
    p = plan("a")
    now = [0.0]
    loads = LiveLoads(clock=lambda: now[0])
    mr = model(p, "a", [run("a", i) for i in range(3)])
    first = loads.get(mr, p)
    assert first is not None and first.requests_sent == 3
    assert loads.get(mr, p) is first  # nothing new: not walked again
    mr.records.append(run("a", 3))
    second = loads.get(mr, p)
    assert second is not None and second.requests_sent == 4  # every new run counts
    mr.records.extend(run("a", i) for i in range(4, MANY_RUNS + 2))
    big = loads.get(mr, p)
    assert big is not None and big.requests_sent == MANY_RUNS + 2
    mr.records.append(run("a", MANY_RUNS + 2))
    assert loads.get(mr, p) is big  # a big load: within the second, the last figures
    now[0] = 1.0
    later = loads.get(mr, p)
    assert later is not None and later.requests_sent == MANY_RUNS + 3
    # a re-run's new list of runs is never taken for the old one
    other = model(p, "a", [run("a", 0)])
    assert (loads.get(other, p) or first).requests_sent == 1


# ------------------------------------------------------------------------------ widget


class TableHost(App[None]):
    def __init__(self, p: BenchmarkPlan) -> None:
        super().__init__()
        self.plan = p

    def compose(self) -> ComposeResult:
        yield ResultsTable(self.plan, id="t")


async def test_the_columns_fill_live_as_runs_finish() -> None:
    p = plan("a")
    result = BenchmarkResult(plan=p, started_at=datetime(2026, 11, 30, tzinfo=UTC))
    result.models["a"] = model(p, "a", [run("a", 0)])
    app = TableHost(p)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(ResultsTable)
        table.show(result, {})
        await pilot.pause()
        assert {"req_s", "lag_p99", "out_tok"} <= set(table.visible_columns)
        assert table.model_rows["a"]["req_s"].text == DASH
        result.models["a"].records.extend(run("a", i) for i in range(1, 6))
        table.show(result, {})
        await pilot.pause()
        assert table.model_rows["a"]["req_s"].text == "20.0/20"
        assert table.model_rows["a"]["lag_p99"].text == "1.0 ms"
        table.sort_by("req_s")
        assert table.sort_state == ("req_s", True)  # the highest rate first


async def test_a_load_against_the_demo_fills_its_columns(demo: DemoServerThread) -> None:
    load = LoadSpec(
        arrival=ArrivalSpec(20.0, ArrivalKind.CONSTANT),
        stop=StopConditions(max_requests=6),
        output_tokens=Fixed(3),
    )
    app = Host(replace(make_plan(demo.url, "demo-fast:1b", warmup=0), load=load))
    async with app.run_test(size=SIZE) as pilot:
        await wait_done(pilot, app)
        table = app.results.table
        row = table.model_rows["demo-fast:1b"]
        assert row["req_s"].text.endswith("/20") and row["req_s"].raw is not None
        assert isinstance(row["lag_p99"].raw, float)
        assert row["out_tok"].text == "3/3"
        assert isinstance(row["in_flight"].raw, int) and row["in_flight"].raw >= 1
        assert {"req_s", "lag_p99", "out_tok"} <= set(table.visible_columns)


async def test_a_result_from_the_history_shows_its_saved_load() -> None:
    # a saved plan keeps no load: the table takes the columns from the models' figures
    p = plan("a", load=None)
    records = [run("a", i) for i in range(6)]
    mr = model(p, "a", records)
    mr.summary = summarise("a", records, None)
    mr.summary.load = summarise_load(
        records, mode="closed", offered_rate=None, max_in_flight=2, stop_reason=None
    )
    mr.phase = ModelPhase.DONE
    result = BenchmarkResult(plan=p, started_at=datetime(2026, 11, 30, tzinfo=UTC))
    result.models["a"] = mr
    app = TableHost(p)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(ResultsTable)
        assert "req_s" not in table.visible_columns
        table.show(result, {})
        await pilot.pause()
        assert {"req_s", "out_tok"} <= set(table.visible_columns)
        assert "lag_p99" not in table.visible_columns  # a closed loop's figures
        assert table.model_rows["a"]["in_flight"].text == "2"
