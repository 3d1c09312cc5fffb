"""The results table's logic without an App: formatting, terciles, sorting, diffing."""

from __future__ import annotations

from datetime import UTC, datetime

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.fold import Progress
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan, Prices
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.export import to_markdown
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.tui.formatting import DASH, fmt_rate, fmt_seconds
from ometer_tui.tui.widgets.fitted_table import fit_widths
from ometer_tui.tui.widgets.results_table import (
    BAD,
    GOOD,
    MIDDLE,
    Better,
    Cell,
    Kind,
    Row,
    apply_colours,
    base_columns,
    build_row,
    columns_for_view,
    default_descending,
    legend_text,
    per_run_fit,
    sort_order,
    tercile_styles,
)

ENDPOINT = Endpoint(name="t", url="http://127.0.0.1:1")


def plan(*names: str, passes: int = 2, prices: Prices | None = None) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=ENDPOINT,
        models=tuple(ModelInfo(name=n) for n in names),
        passes=passes,
        warmup=1,
        prices=prices,
    )


def rec(
    model: str,
    i: int,
    *,
    ttft: float | None = 0.1,
    tps: float | None = 50.0,
    ok: bool = True,
    warmup: bool = False,
) -> RunRecord:
    return RunRecord(
        model=model,
        pass_index=0 if warmup else i,
        prompt_index=0,
        warmup=warmup,
        ok=ok,
        ttft_s=ttft if ok else None,
        ttft_visible_s=ttft if ok else None,
        e2e_s=(ttft or 0) + 1.0 if ok else None,
        decode_tps=tps if ok else None,
        output_tokens=51 if ok else None,
        tokens_source="usage" if ok else "none",
        error=None if ok else "500 boom",
        status=200 if ok else 500,
    )


def rows_of(**values: float | str | None) -> dict[str, Row]:
    return {k: {"x": Cell(v, "" if v is None else str(v))} for k, v in values.items()}


# --------------------------------------------------------------------------- formatting


def test_times_in_ms_below_ten_seconds_and_seconds_above() -> None:
    assert fmt_seconds(0.0304) == "30.4 ms"
    assert fmt_seconds(0.8123) == "812 ms"
    assert fmt_seconds(9.9994) == "9999 ms"
    assert fmt_seconds(12.34) == "12.3 s"
    assert fmt_seconds(None) == DASH
    assert fmt_seconds(float("nan")) == DASH


def test_rates_have_one_decimal() -> None:
    assert fmt_rate(200.04) == "200.0"
    assert fmt_rate(7.25) == "7.2"
    assert fmt_rate(None) == DASH


def test_cells_are_text_never_markup() -> None:
    cell = Cell("m[bold]x", "m[bold]x")
    assert cell.render().plain == "m[bold]x"


# ------------------------------------------------------------------------------ terciles


def test_terciles_lower_is_better() -> None:
    styles = tercile_styles({"a": 0.1, "b": 0.2, "c": 0.3, "d": None}, Better.LOWER)
    assert styles == {"a": GOOD, "b": MIDDLE, "c": BAD}


def test_terciles_higher_is_better() -> None:
    styles = tercile_styles({"a": 10.0, "b": 20.0, "c": 30.0}, Better.HIGHER)
    assert styles == {"a": BAD, "b": MIDDLE, "c": GOOD}


def test_terciles_of_two_values_single_value_and_ties() -> None:
    assert tercile_styles({"a": 1.0, "b": 2.0}, Better.LOWER) == {"a": GOOD, "b": BAD}
    assert tercile_styles({"a": 1.0, "b": None}, Better.LOWER) == {}
    assert tercile_styles({"a": 1.0, "b": 1.0}, Better.LOWER) == {"a": GOOD, "b": GOOD}
    many = tercile_styles({str(i): float(i) for i in range(9)}, Better.LOWER)
    assert [many[str(i)] for i in range(9)] == [GOOD] * 3 + [MIDDLE] * 3 + [BAD] * 3


def test_error_counts_are_red_when_positive() -> None:
    p = plan("a", "b")
    a = ModelResult(info=p.models[0], records=[rec("a", 1), rec("a", 2, ok=False)])
    b = ModelResult(info=p.models[1], records=[rec("b", 1), rec("b", 2)])
    rows = apply_colours({"a": build_row(a, p), "b": build_row(b, p)}, base_columns(p))
    assert "red" in rows["a"]["err"].style
    assert rows["b"]["err"].style == ""


# ------------------------------------------------------------------------------- sorting


def test_sort_puts_none_last_in_both_directions() -> None:
    rows = rows_of(a=3.0, b=None, c=1.0, d=2.0, e=None)
    assert sort_order(rows, "x") == ["c", "d", "a", "b", "e"]
    assert sort_order(rows, "x", descending=True) == ["a", "d", "c", "b", "e"]


def test_sort_on_raw_values_not_display_text() -> None:
    rows = {
        "a": {"x": Cell(0.9, "900 ms")},
        "b": {"x": Cell(12.0, "12.0 s")},
        "c": {"x": Cell(0.05, "50.0 ms")},
    }
    assert sort_order(rows, "x") == ["c", "a", "b"]


def test_sort_never_raises_on_mixed_or_missing_columns() -> None:
    rows: dict[str, Row] = {
        "a": {"x": Cell("zeta", "zeta")},
        "b": {"x": Cell(1.0, "1")},
        "c": {},
        "d": {"x": Cell(float("nan"), "nan")},
        "e": {"x": Cell("Alpha", "Alpha")},
    }
    order = sort_order(rows, "x")
    assert set(order) == set(rows)
    assert order[-1] == "c"
    assert order.index("e") < order.index("a")  # case-insensitive text
    assert sort_order(rows, None) == list(rows)
    assert sort_order(rows, "missing") == list(rows)


def test_sort_ties_keep_plan_order() -> None:
    rows = rows_of(a=1.0, b=1.0, c=0.5)
    assert sort_order(rows, "x") == ["c", "a", "b"]
    assert sort_order(rows, "x", descending=True) == ["a", "b", "c"]


def test_first_sort_puts_the_best_first() -> None:
    cols = {c.key: c for c in base_columns(plan("a"))}
    assert default_descending(cols["tps"]) is True
    assert default_descending(cols["ttft"]) is False
    assert default_descending(cols["model"]) is False


# ---------------------------------------------------------------------------------- rows


def test_row_while_running_and_percentiles_only_from_five_values() -> None:
    p = plan("a", passes=6)
    mr = ModelResult(
        info=p.models[0],
        phase=ModelPhase.RUNNING,
        records=[rec("a", 0, warmup=True, ttft=9.0)]
        + [rec("a", i, ttft=0.1 * i) for i in range(1, 5)],
    )
    row = build_row(mr, p, progress=Progress(4, 6))
    assert row["status"].text == "running 4/6"
    assert isinstance(row["ttft"].raw, float) and abs(row["ttft"].raw - 0.25) < 1e-9
    assert row["p90"].text == DASH and row["p90"].raw is None
    mr.records.append(rec("a", 5, ttft=0.5))
    row = build_row(mr, p, progress=Progress(5, 6))
    assert isinstance(row["p90"].raw, float) and abs(row["p90"].raw - 0.46) < 1e-9
    assert row["ok"].raw == 5 and row["err"].raw == 0
    assert row["tokens"].text == "255"


def test_row_of_a_name_with_brackets_and_per_run_cells() -> None:
    name = "weird[/]name[bold]"
    p = plan(name, passes=3)
    mr = ModelResult(info=p.models[0], records=[rec(name, 1, ttft=0.2), rec(name, 2, ok=False)])
    row = build_row(mr, p, per_run=3)
    assert row["model"].render().plain == name
    assert row["ttft1"].text == "200 ms" and row["tps1"].text == "50.0"
    assert row["ttft2"].text == "✗" and row["ttft2"].raw is None
    assert row["ttft3"].text == "" and row["ttft3"].raw is None


def test_cost_column_only_with_prices() -> None:
    assert "cost" not in {c.key for c in base_columns(plan("a"))}
    priced = plan("a", prices=Prices(1.0, 2.0))
    assert "cost" in {c.key for c in base_columns(priced)}
    mr = ModelResult(info=priced.models[0], records=[rec("a", 1)])
    mr.records[0].cost_usd = 0.0001
    assert build_row(mr, priced)["cost"].text == "$0.0001"


def test_per_run_view_columns_are_capped() -> None:
    keys = [c.key for c in columns_for_view(plan("a", passes=40), per_run=True)]
    assert "ttft12" in keys and "ttft13" not in keys and "tps12" in keys
    assert "sd" not in keys and "model" in keys


def test_fit_drops_least_important_columns_keeps_order() -> None:
    cols = base_columns(plan("demo-fast:1b"))
    fit = [c.fit_column() for c in cols]
    naturals = {c.key: c.render_width for c in cols}
    wide = fit_widths(fit, naturals, 400)
    assert list(wide) == [c.key for c in cols]
    narrow = fit_widths(fit, naturals, 78)
    keys = list(narrow)
    assert {"status", "model", "ttft", "tps", "ok", "err"} <= set(keys)
    assert "ctx" not in keys and "quant" not in keys
    assert keys == [c.key for c in cols if c.key in keys]
    assert sum(w + 2 for w in narrow.values()) <= 78
    assert all(c.kind is not Kind.TEXT or c.key in ("model", "quant") for c in cols)


def test_the_model_column_is_cut_before_err_is_dropped_at_60_columns() -> None:
    names = ("fault-rate-limited", "fault-rate-limited-once", "demo-fast:1b")
    cols = base_columns(plan(*names))
    naturals = {c.key: c.render_width for c in cols}
    widths = fit_widths([c.fit_column() for c in cols], naturals, 58)
    assert {"status", "model", "ttft", "tps", "ok", "err"} <= set(widths)
    assert 10 <= widths["model"] < len("fault-rate-limited-once")
    assert sum(w + 2 for w in widths.values()) <= 58


# --------------------------------------------------------------------- defects of issue 8


def emb_rec(i: int, latency: float) -> RunRecord:
    return RunRecord(
        model="emb",
        pass_index=i,
        prompt_index=0,
        warmup=False,
        ok=True,
        status=200,
        latency_s=latency,
        input_tokens=9,
        input_tps=9 / latency,
    )


def test_embeddings_have_their_own_latency_and_no_ttft() -> None:
    emb = ModelInfo(name="emb", capabilities=("embedding",))
    p = BenchmarkPlan(endpoint=ENDPOINT, models=(ModelInfo(name="a"), emb), passes=3)
    assert "latency" in {c.key for c in base_columns(p)}
    mr = ModelResult(info=emb, records=[emb_rec(i, 0.01 * i) for i in (1, 2, 3)])
    row = build_row(mr, p, per_run=3)
    assert row["latency"].raw == 0.02 and row["latency"].text == "20.0 ms"
    for key in ("ttft", "vttft", "e2e", "sd", "ttft1", "ttft2", "ttft3", "tps1"):
        assert row[key].raw is None, key
    chat = ModelResult(info=p.models[0], records=[rec("a", i) for i in (1, 2, 3)])
    rows = {"a": build_row(chat, p), "emb": row}
    assert sort_order(rows, "e2e") == ["a", "emb"]  # not sorted among chat e2e
    assert sort_order(rows, "e2e", descending=True) == ["a", "emb"]


def test_a_failed_row_shows_its_main_error_kind() -> None:
    p = plan("a", "b")

    def failed(i: int, status: int | None, kind: str) -> RunRecord:
        return RunRecord(
            model="b",
            pass_index=i,
            prompt_index=0,
            warmup=False,
            ok=False,
            status=status,
            error="nope",
            error_kind=kind,
        )

    b = ModelResult(
        info=p.models[1],
        phase=ModelPhase.FAILED,
        records=[failed(1, 403, "http"), failed(2, 403, "http"), failed(3, None, "timeout")],
    )
    assert build_row(b, p)["error"].text == "http 403"
    a = ModelResult(info=p.models[0], records=[rec("a", 1)])
    assert build_row(a, p)["error"].text == ""
    assert "error" in {c.key for c in base_columns(p, errors=True)}
    assert "error" not in {c.key for c in base_columns(p)}


def test_n3_shows_a_median_and_a_spread_that_agree_with_the_markdown() -> None:
    p = plan("a", passes=3)
    records = [rec("a", 1, ttft=0.100), rec("a", 2, ttft=0.200), rec("a", 3, ttft=0.600)]
    mr = ModelResult(info=p.models[0], records=records, phase=ModelPhase.DONE)
    mr.summary = summarise("a", records)
    row = build_row(mr, p)
    assert row["ttft"].text == "200 ms"  # the median (the mean would be 300 ms)
    assert row["sd"].text.startswith("±") and row["sd"].raw is not None
    assert row["ok"].text == "3"  # the n the row's figures rest on
    result = BenchmarkResult(plan=p, started_at=datetime(2026, 1, 1, tzinfo=UTC), models={"a": mr})
    md_row = next(line for line in to_markdown(result).splitlines() if line.startswith("| a "))
    md_cell = md_row.split("|")[3].split()  # "200" (ms by its header) or "200 ms"
    md_ttft_s = float(md_cell[0]) * (1.0 if md_cell[1:] == ["s"] else 0.001)
    assert abs(float(row["ttft"].raw) - md_ttft_s) < 0.0005  # type: ignore[arg-type]


def test_legend_explains_only_the_columns_shown() -> None:
    cols = [c for c in base_columns(plan("a")) if c.key in ("status", "model", "ttft", "ok")]
    legend = legend_text(cols).plain
    assert "TTFT, e2e: medians" in legend and "ok: the n" in legend
    assert "p90" not in legend and "vTTFT" not in legend and "srv" not in legend
    runs = legend_text(cols, per_run_shown=2, per_run_total=3).plain
    assert "TTFT1…2" in runs and "runs 1–2 of 3" in runs


def test_per_run_view_fits_every_run_of_three_passes_at_120_columns() -> None:
    p = plan("demo-think:7b", "fault-rate-limited-once", passes=3)
    assert per_run_fit(p, 118) == 3
    cols = columns_for_view(p, per_run=True, shown_runs=per_run_fit(p, 118))
    naturals = {c.key: c.render_width for c in cols}
    widths = fit_widths([c.fit_column() for c in cols], naturals, 118)
    assert {"ttft1", "ttft2", "ttft3", "tps1", "tps2", "tps3"} <= set(widths)
    assert per_run_fit(p, 58) < 3  # a narrow terminal shows fewer runs, and says so


def test_buffered_and_not_streamed_runs_say_so_instead_of_a_dash() -> None:
    from dataclasses import replace

    from ometer_tui.tui.formatting import BUFFERED, NOT_STREAMED

    p = plan("buf", "whole", "mixed", passes=2)
    buffered = [replace(rec("buf", i, tps=None), buffered=True, arrivals=1) for i in (1, 2)]
    whole = [replace(rec("whole", i, ttft=None, tps=None), not_streamed=True) for i in (1, 2)]
    mixed = [rec("mixed", 1), replace(rec("mixed", 2, tps=None), buffered=True)]
    rows = {
        r[0].model: build_row(ModelResult(info=ModelInfo(name=r[0].model), records=r), p, per_run=2)
        for r in (buffered, whole, mixed)
    }
    assert rows["buf"]["tps"].text == BUFFERED and rows["buf"]["tps"].raw is None
    assert rows["buf"]["tps1"].text == BUFFERED
    assert rows["buf"]["ttft"].text == "100 ms"  # the first token's arrival is kept
    assert rows["whole"]["ttft"].text == rows["whole"]["ttft2"].text == NOT_STREAMED
    assert rows["whole"]["tps"].text == DASH
    assert rows["mixed"]["tps"].text == "50.0"  # the streamed run's rate
    assert rows["mixed"]["tps2"].text == BUFFERED


def test_the_header_drops_whole_phrases_never_cuts_one() -> None:
    from ometer_tui.tui.widgets.results_header import fit_phrases, title_phrases

    p = BenchmarkPlan(
        endpoint=Endpoint(name="demo (simulated)", url="http://127.0.0.1:11434"),
        models=tuple(ModelInfo(name=f"m{i}") for i in range(6)),
        passes=3,
        concurrency=4,
        parallel_models=2,
    )
    phrases = title_phrases(p)
    whole = [ph.text.plain for ph in phrases]
    for width in range(60, 121):
        shown = fit_phrases(phrases, width).plain
        assert len(shown) <= width
        parts = shown.split(" · ")
        assert all(part in whole for part in parts), (width, shown)
        assert parts[0].startswith("Results demo (simulated)")
        assert "6 models × 3 runs" in parts  # the most important stays
