"""Chart data from run records, checked by hand on fixed records."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.series import (
    CurvePoint,
    RunSeries,
    SeriesBuilder,
    TelemetryTrail,
    auto_bins,
    bin_edges,
    bucket_width,
    errors_series,
    histogram,
    in_flight_series,
    nice_step,
    output_tps_series,
    run_series,
    sweep_curve,
    sweep_curves,
    telemetry_points,
    ttft_histogram,
    ttft_rolling_series,
)
from ometer_tui.core.telemetry.live import SeriesView, TelemetrySnapshot, snapshot
from ometer_tui.core.telemetry.recording import SourceKind, TelemetryRecording


def rec(
    start: float,
    end: float,
    *,
    ttft: float | None = 0.5,
    tokens: int | None = 10,
    ok: bool = True,
    warmup: bool = False,
    index: int = 0,
    itl: float | None = None,
    itl_p99: float | None = None,
) -> RunRecord:
    return RunRecord(
        model="m",
        pass_index=0 if warmup else 1,
        prompt_index=index,
        warmup=warmup,
        ok=ok,
        ttft_s=ttft if ok else None,
        e2e_s=(end - start) if ok else None,
        output_tokens=tokens if ok else None,
        itl_mean_s=itl,
        itl_p99_s=itl_p99,
        started_at_s=start,
        finished_at_s=end,
    )


def test_bucket_width_is_the_smallest_nice_width_that_fits() -> None:
    assert bucket_width(0.0) == 0.25
    assert bucket_width(30.0, 120) == 0.25
    assert bucket_width(31.0, 120) == 0.5
    assert bucket_width(100.0, 50) == 2.0
    assert bucket_width(10 * 3600.0, 2) == 18000.0  # past the table: whole hours
    with pytest.raises(ValueError):
        bucket_width(1.0, 0)


def test_output_tokens_spread_over_the_decode_window() -> None:
    # 10 tokens from t=0.5 (first token) to t=2.5: a decode window of 2 s, 5 tok/s;
    # buckets of 1 s: [0,1) holds 0.5 s of it -> 2.5 tok; [1,2): 5; [2,3): 2.5
    series = output_tps_series([rec(0.0, 2.5)], 1.0, 3)
    assert series.times == (1.0, 2.0, 3.0)
    assert series.values == pytest.approx((2.5, 5.0, 2.5))
    # width 0.5: tokens per bucket / 0.5 s
    half = output_tps_series([rec(0.0, 2.5)], 0.5, 6)
    assert half.values == pytest.approx((0.0, 5.0, 5.0, 5.0, 5.0, 0.0))


def test_output_tps_leaves_out_failures_and_warmups() -> None:
    records = [rec(0, 1, ok=False), rec(0, 1, warmup=True), rec(0, 1, ttft=0.0, tokens=4)]
    assert output_tps_series(records, 1.0, 1).values == pytest.approx((4.0,))
    assert output_tps_series(records, 1.0, 1, warmup=True).values == pytest.approx((14.0,))


def test_in_flight_is_time_weighted() -> None:
    # run A [0, 2), run B [1, 3): bucket [0,1): 1, [1,2): 2, [2,3): 1
    series = in_flight_series([rec(0, 2), rec(1, 3)], 1.0, 3)
    assert series.values == pytest.approx((1.0, 2.0, 1.0))
    # half a bucket busy reads 0.5
    assert in_flight_series([rec(0.5, 1.0)], 1.0, 1).values == pytest.approx((0.5,))
    # failed runs were in flight too
    assert in_flight_series([rec(0, 1, ok=False)], 1.0, 1).values == pytest.approx((1.0,))


def test_errors_per_bucket_by_end_time() -> None:
    records = [rec(0, 0.4, ok=False), rec(0, 1.2, ok=False), rec(0, 1.5), rec(0, 9, ok=False)]
    # the last bucket takes what ends after it
    assert errors_series(records, 1.0, 2).values == (1.0, 2.0)


def test_ttft_rolling_percentiles() -> None:
    # ok runs sent at 0.1 .. 0.9 s with TTFT 0.1 .. 0.9, then 5 more at 2.1 .. 2.5 s with TTFT 2
    records = [rec(i / 10, 3.0, ttft=i / 10) for i in range(1, 10)]
    records += [rec(2.1 + i / 10, 3.0, ttft=2.0) for i in range(5)]
    p50, p99 = ttft_rolling_series(records, 1.0, 3, window_s=1.0)
    assert p50.values[0] == pytest.approx(0.5)
    assert p99.values[0] == pytest.approx(0.892)  # 9 values: position 7.92 -> 0.8 + 0.092
    assert p50.values[1] is None and p99.values[1] is None  # nothing sent in (1, 2]
    assert p50.values[2] == pytest.approx(2.0)
    assert p99.values[2] == pytest.approx(2.0)
    # a 2 s window at t=3 holds (1, 3]: only the five 2.x runs
    p50w, _ = ttft_rolling_series(records, 1.0, 3, window_s=2.0)
    assert p50w.values[1] == pytest.approx(0.5)  # (0, 2] holds the first nine


def test_p99_needs_enough_values() -> None:
    records = [rec(0.1 * i, 1.0, ttft=0.1) for i in range(4)]
    p50, p99 = ttft_rolling_series(records, 1.0, 1, window_s=5.0)
    assert p50.values[0] == pytest.approx(0.1)
    assert p99.values == (None,)


def test_run_series_covers_the_run() -> None:
    records = [rec(0, 2), rec(1, 3), rec(2.5, 3.7, ok=False)]
    rs = run_series(records)
    assert rs.width_s == 0.25
    assert rs.end_s == pytest.approx(3.7)
    assert len(rs.times) == 15  # ceil(3.7 / 0.25)
    assert rs.runs == 3
    assert rs.window_s == 5.0
    assert sum(v or 0 for v in rs.errors.values) == 1
    # tokens are conserved: 20 tokens at 0.25 s per bucket
    assert sum(v or 0 for v in rs.output_tps.values) * 0.25 == pytest.approx(20.0)
    assert rs.output_tps.last is not None
    assert run_series([]).times == (0.25,)
    assert run_series(records, end_s=120.0, max_buckets=60).width_s == 2.0


def test_nice_steps_and_edges() -> None:
    assert nice_step(0.7) == 1.0
    assert nice_step(0.013) == pytest.approx(0.02)
    assert nice_step(2.2) == 2.5
    assert nice_step(30) == 50
    with pytest.raises(ValueError):
        nice_step(0)
    assert bin_edges(0.0, 1.0, 10) == pytest.approx(tuple(i / 10 for i in range(11)))
    edges = bin_edges(0.123, 0.987, 8)
    assert len(edges) - 1 <= 8 and edges[0] <= 0.123 and edges[-1] >= 0.987
    assert bin_edges(0.5, 0.5) == pytest.approx((0.475, 0.525))


def test_histogram_counts_by_hand() -> None:
    h = histogram([0.05, 0.15, 0.15, 0.95, 1.0, None, float("nan")], bins=10, name="x")
    assert h.edges == pytest.approx(tuple(i / 10 for i in range(11)))
    assert h.counts == (1, 2, 0, 0, 0, 0, 0, 0, 0, 2)  # 1.0 falls in the closed last bin
    assert h.n == 5 and h.above == 0
    assert histogram([]).counts == ()


def test_histogram_keeps_the_far_tail_apart() -> None:
    values = [0.1 + i * 0.001 for i in range(99)] + [30.0]
    h = histogram(values, bins=10)
    assert h.above == 1
    assert h.n == 100
    assert h.edges[-1] < 1.0  # the bins are not stretched to 30 s
    assert histogram(values, bins=10, tail_q=None).above == 0


def test_ttft_histogram_uses_ok_measured_runs() -> None:
    records = [
        rec(0, 1, ttft=0.2, itl=0.01),
        rec(0, 1, ttft=0.4, itl=0.03),
        rec(0, 1, ok=False),
        rec(0, 1, ttft=9.0, warmup=True, itl=9.0),
    ]
    assert ttft_histogram(records).n == 2


def test_sweep_curve_orders_points_and_keeps_arrival() -> None:
    a = CurvePoint(4.0, 3.9, 0.2, 0.4, 3.5)
    b = CurvePoint(1.0, 1.0, 0.1, 0.15, 1.0)
    c = CurvePoint(8.0, 5.0, 1.0, None, None)
    curve = sweep_curve([a, b, c], slo_ttft_s=0.5)
    assert curve.points == (b, a, c)
    assert curve.latest == c
    assert curve.throughput() == [(1.0, 1.0), (4.0, 3.9), (8.0, 5.0)]
    assert curve.goodput() == [(1.0, 1.0), (4.0, 3.5)]
    assert curve.ttft_vs_throughput(99) == [(1.0, 0.15), (3.9, 0.4)]
    assert curve.ttft_vs_throughput(50) == [(1.0, 0.1), (3.9, 0.2), (5.0, 1.0)]
    assert curve.offered_unit == "req/s"
    assert sweep_curve([], offered_kind="concurrency").offered_unit == "concurrent"


def _view(times: tuple[float, ...], values: tuple[float, ...]) -> SeriesView:
    return SeriesView("prometheus", "requests_running", "", "requests", values[-1], values,
                      times=times)  # fmt: skip


def test_telemetry_trail_joins_overlapping_snapshots() -> None:
    trail = TelemetryTrail()
    assert trail.add(TelemetrySnapshot(series=(_view((0.5, 1.5), (1.0, 2.0)),)))
    assert trail.add(TelemetrySnapshot(series=(_view((1.5, 2.5), (2.0, 3.0)),)))
    assert not trail.add(TelemetrySnapshot(series=(_view((1.5, 2.5), (2.0, 3.0)),)))
    (pts,) = trail.points()
    assert pts.times == (0.5, 1.5, 2.5) and pts.values == (1.0, 2.0, 3.0)
    assert pts.title == "requests running" and pts.unit == "requests"
    trail.clear()
    assert trail.points() == ()


def test_telemetry_trail_thins_and_keeps_the_latest() -> None:
    trail = TelemetryTrail(max_points=4)
    trail.add(TelemetrySnapshot(series=(_view((1, 2, 3, 4, 5), (1, 2, 3, 4, 5)),)))
    (pts,) = trail.points()
    assert pts.times == (1, 3, 5)
    trail.add(TelemetrySnapshot(series=(_view((4, 5, 6, 7), (4, 5, 6, 7)),)))
    (pts,) = trail.points()
    # 1 3 5 6 7 is 5 points: every other one is dropped, the latest kept
    assert pts.times == (1, 5, 7)


def test_telemetry_points_on_the_client_axis() -> None:
    rec = TelemetryRecording(interval_s=1.0, origin_ns=1_000_000_000)
    series = rec.series_for(SourceKind.PROMETHEUS, "kv_cache_usage", "%", "vllm:kv", "m")
    series.add(1_500_000_000, 10.0)
    series.add(3_000_000_000, 20.0)
    rec.series_for(SourceKind.OLLAMA_PS, "empty", "", "x")
    (pts,) = telemetry_points(rec)
    assert pts.times == (0.5, 2.0) and pts.values == (10.0, 20.0)
    assert pts.key == ("prometheus", "kv_cache_usage", "m")
    assert pts.title == "kv cache usage [m]"


def test_snapshot_carries_sample_times() -> None:
    rec = TelemetryRecording(interval_s=1.0, origin_ns=0)
    rec.series_for(SourceKind.PROMETHEUS, "x", "", "x").add(2_000_000_000, 1.0)
    assert snapshot(rec).series[0].times == (2.0,)


@dataclass(frozen=True)
class StepFigures:
    """A sweep's per-model point with more figures than a chart reads (structural)."""

    offered: float
    throughput_rps: float | None
    output_tps: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    goodput_rps: float | None


def test_sweep_curves_per_model_from_step_points() -> None:
    steps = [
        {
            "a": StepFigures(1, 1.0, 50, 0.1, 0.2, 1.0),
            "b": StepFigures(1, None, None, None, None, None),
        },
        {"a": StepFigures(2, 1.9, 90, 0.2, 0.4, 1.5)},
    ]
    curves = sweep_curves(steps, offered_kind="concurrency", slo_ttft_s=0.3)
    assert set(curves) == {"a", "b"}
    a = curves["a"]
    assert a.throughput() == [(1, 1.0), (2, 1.9)]
    assert a.goodput() == [(1, 1.0), (2, 1.5)]
    assert a.slo_ttft_s == 0.3 and a.offered_unit == "concurrent"
    b = curves["b"]  # nothing succeeded: no point to draw, but the step is known
    assert b.throughput() == [] and b.ttft_vs_throughput(50) == [] and b.latest is not None


def _random_records(n: int, seed: int) -> list[RunRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = rng.uniform(0, n / 8)
        ok = rng.random() > 0.1
        ttft = rng.uniform(0.01, 0.5)
        e2e = ttft + rng.uniform(0, 3)
        out.append(
            RunRecord(
                model="m", pass_index=0 if i % 17 == 0 else 1, prompt_index=i,
                warmup=i % 17 == 0, ok=ok, ttft_s=ttft if ok else None,
                e2e_s=e2e if ok else None, output_tokens=rng.randint(0, 90) if ok else None,
                started_at_s=start, finished_at_s=start + (e2e if ok else rng.uniform(0, 1)),
            )
        )  # fmt: skip
    return out


def _same(a: RunSeries, b: RunSeries) -> None:
    assert (a.width_s, a.end_s, a.window_s, a.runs) == (b.width_s, b.end_s, b.window_s, b.runs)
    assert a.times == b.times
    for name in ("output_tps", "in_flight", "errors", "ttft_p50", "ttft_p99"):
        va, vb = getattr(a, name).values, getattr(b, name).values
        assert [v is None for v in va] == [v is None for v in vb], name
        assert [v or 0 for v in va] == pytest.approx([v or 0 for v in vb], abs=1e-9), name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_builder_gives_run_series_figures_as_records_arrive(seed: int) -> None:
    records = _random_records(400, seed)
    builder = SeriesBuilder()
    for chunk in range(0, len(records), 37):  # records arrive a few at a time
        builder.add(records[chunk : chunk + 37])
        seen = records[: chunk + 37]
        _same(builder.series(), run_series(seen))
        _same(builder.series(max_buckets=7), run_series(seen, max_buckets=7))
    _same(builder.series(end_s=10.0), run_series(records, end_s=10.0))
    # in send order, as a live run hands them over: most windows come from the cache
    in_order = sorted(records, key=lambda r: r.started_at_s)
    builder = SeriesBuilder()
    for chunk in range(0, len(in_order), 23):
        builder.add(in_order[chunk : chunk + 23])
        _same(builder.series(max_buckets=30), run_series(in_order[: chunk + 23], max_buckets=30))
    _same(builder.series(window_s=2.0), run_series(records, window_s=2.0))


def test_the_builder_recomputes_only_windows_a_new_record_touched() -> None:
    builder = SeriesBuilder()
    builder.add([rec(float(i), float(i) + 0.5, ttft=0.1) for i in range(40)])
    before = builder.series(max_buckets=40)
    late = [rec(0.1 * i, 0.6, ttft=9.0) for i in range(1, 4)]
    builder.add(late)  # sent at the start: the early windows change, from the cache
    after = builder.series(max_buckets=40)
    assert after.ttft_p50.values[0] != before.ttft_p50.values[0]
    assert after.ttft_p50.values[0] == pytest.approx(9.0)
    first = [rec(float(i), float(i) + 0.5, ttft=0.1) for i in range(40)]
    _same(after, run_series([*first, *late], max_buckets=40))


def test_histograms_of_few_runs_get_few_bins() -> None:
    assert [auto_bins(n) for n in (0, 5, 36, 100, 10_000)] == [5, 5, 6, 10, 20]
    records = [rec(0, 1, ttft=0.1 + i / 100) for i in range(5)]
    assert len(ttft_histogram(records).counts) <= 5
    assert len(ttft_histogram(records, bins=20).counts) > 5
