"""Sweep descriptions, step plans, the saturation rule, knees and repeat intervals."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
from ometer_tui.core.bench.records import ModelSummary
from ometer_tui.core.bench.repeat import mean_ci, t975
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.steps import (
    LoadKind,
    ModelStep,
    StepLoad,
    StepPoint,
    StepResult,
    SweepRecord,
    knees,
)
from ometer_tui.core.bench.sweep import (
    DEFAULT_STEP_DURATION_S,
    SweepError,
    is_saturated,
    parse_sweep,
    single_run_record,
    step_plan,
)
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import Endpoint, ModelInfo


def test_parse_sweep_lists_and_auto() -> None:
    spec = parse_sweep("concurrency=1,2,4,8,16")
    assert spec.kind is LoadKind.CONCURRENCY and spec.values == (1, 2, 4, 8, 16)
    assert parse_sweep("rate=0.5,1,2").values == (0.5, 1.0, 2.0)
    auto = parse_sweep("rate=auto:8")
    assert auto.kind is LoadKind.RATE and auto.auto_steps == 8 and auto.values == ()
    assert auto.describe() == "rate=auto:8"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate=0", "--sweep rate=0: each rate must be more than 0, got 0"),
        ("rate=1,-2", "each rate must be more than 0, got -2"),
        ("concurrency=1.5", "--sweep concurrency=1.5: '1.5' is not a whole number"),
        ("speed=1", "--sweep speed=1: expected concurrency=N,N,... or rate=R,R,..."),
        ("rate=", "give the rate values after '='"),
        ("concurrency=auto:4", "auto applies to rate=auto:N"),
        ("rate=auto:1", "auto:N needs N from 2 to 64, got 1"),
        ("rate=nan", "each rate must be more than 0"),
    ],
)
def test_bad_sweeps_name_the_flag(text: str, message: str) -> None:
    with pytest.raises(SweepError) as caught:
        parse_sweep(text)
    assert message in str(caught.value) and str(caught.value).startswith("--sweep ")


PLAN = BenchmarkPlan(
    endpoint=Endpoint(name="e", url="http://127.0.0.1:1"), models=(ModelInfo("m"),)
)


def test_step_plans_change_only_the_load() -> None:
    closed = step_plan(PLAN, StepLoad(LoadKind.CONCURRENCY, 8))
    assert closed.concurrency == 8 and closed.load is not None
    assert closed.load.arrival is None
    assert closed.load.stop.duration_s == DEFAULT_STEP_DURATION_S
    assert closed.prompts == PLAN.prompts and not closed.validate()
    base = LoadSpec(
        arrival=ArrivalSpec(3.0, ArrivalKind.GAMMA, 0.5),
        max_concurrency=16,
        stop=StopConditions(max_requests=50),
    )
    opened = step_plan(
        PLAN.__class__(**{**_fields(PLAN), "load": base}), StepLoad(LoadKind.RATE, 7)
    )
    assert opened.load is not None and opened.load.arrival is not None
    assert opened.load.arrival.rate == 7 and opened.load.arrival.kind is ArrivalKind.GAMMA
    assert opened.load.arrival.burstiness == 0.5 and opened.load.max_concurrency == 16
    assert opened.load.stop.max_requests == 50 and opened.load.stop.duration_s is None


def _fields(plan: BenchmarkPlan) -> dict[str, object]:
    return {name: getattr(plan, name) for name in plan.__dataclass_fields__}


def point(offered: float, rps: float, ttft: float) -> StepPoint:
    return StepPoint(offered, rps, None, ttft, None, None, None, None, None, None, 0.0)


def test_saturation_needs_flat_throughput_and_rising_ttft() -> None:
    history = [point(1, 5.0, 0.010), point(2, 9.0, 0.012)]
    assert not is_saturated([], point(1, 5.0, 0.01))
    assert not is_saturated(history, point(4, 12.0, 0.050))  # still growing 33%
    assert is_saturated(history, point(4, 9.5, 0.050))  # +5.6%, TTFT x4
    assert not is_saturated(history, point(4, 9.5, 0.0125))  # flat, TTFT steady
    assert not is_saturated(history, point(4, 9.5, 0.016))  # +33% but only 4 ms: noise


def model_step(name: str, rps: float | None) -> ModelStep:
    return ModelStep(name, ModelSummary(name, request_throughput=rps), ModelPhase.DONE)


def test_knee_is_the_lowest_load_within_ten_percent_of_the_best() -> None:
    steps = [
        StepResult(i, StepLoad(LoadKind.CONCURRENCY, c), 0, "step", 0, 1, [model_step("m", r)])
        for i, (c, r) in enumerate([(1, 6.0), (2, 11.0), (4, 15.0), (8, 15.8), (16, 15.5)])
    ]
    knee = knees(steps)["m"]
    assert knee.load.value == 4 and knee.throughput_rps == 15.0
    assert knee.max_throughput_rps == 15.8


def test_t_quantiles_and_the_confidence_interval_by_hand() -> None:
    assert t975(1) == pytest.approx(12.706, abs=1e-3)
    assert t975(4) == pytest.approx(2.776, abs=1e-3)
    assert t975(60) == pytest.approx(2.000, abs=2e-3)  # beyond the table
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)
    values = [10.0, 12.0, 11.0, 13.0, 9.0]
    ci = mean_ci(values)
    assert ci is not None and ci.n == 5 and ci.mean == pytest.approx(11.0)
    half = 2.7764 * statistics.stdev(values) / 5**0.5  # s = 1.5811, half = 1.9632
    assert ci.half_width == pytest.approx(half) and ci.half_width == pytest.approx(1.963, abs=1e-3)
    assert ci.low == pytest.approx(11.0 - half) and ci.high == pytest.approx(11.0 + half)
    one = mean_ci([4.0, None])
    assert one is not None and one.low is None and one.describe() == "4.00"
    assert mean_ci([None]) is None


def test_repeat_stats_group_the_repeats_of_each_step() -> None:
    record = SweepRecord("sweep", LoadKind.RATE, "rate=1,2", SloTargets(), 3)
    for index, rate in enumerate((1.0, 2.0)):
        for rep, rps in enumerate((rate * 0.9, rate, rate * 1.1)):
            load = StepLoad(LoadKind.RATE, rate)
            record.steps.append(StepResult(index, load, rep, "step", 0, 1, [model_step("m", rps)]))
    stats = record.repeat_stats()
    assert [(i, load.value, m) for i, load, m, _ in stats] == [(0, 1.0, "m"), (1, 2.0, "m")]
    ci = stats[1][3]["throughput_rps"]
    assert ci.n == 3 and ci.mean == pytest.approx(2.0)
    assert ci.half_width == pytest.approx(4.3027 * 0.2 / 3**0.5, rel=1e-4)


# ------------------------------------------------------- a single run with SLOs


def _single_run(ttfts_ms: list[int], *, warmup: bool = False) -> BenchmarkResult:
    from datetime import UTC, datetime, timedelta

    from tests.unit.test_metrics import observation, record

    plan = BenchmarkPlan(
        endpoint=Endpoint(name="e", url="http://127.0.0.1:1"),
        models=(ModelInfo(name="m"),),
        prompts=("hi",),
        passes=len(ttfts_ms),
    )
    result = empty_result(plan)
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    result.started_at, result.finished_at = started, started + timedelta(seconds=4)
    result.models["m"].records = [
        record(observation(ttft_ms=t, gap_ms=10, tokens=8, usage=8), warmup=warmup)
        for t in ttfts_ms
    ]
    return result


def test_a_single_run_with_slos_becomes_the_one_step_headless_makes() -> None:
    result = _single_run([40, 60, 900])
    slo = SloTargets((("ttft", 100.0),), 50.0)
    record = single_run_record(result, slo)
    assert record is not None and record.single_run
    assert (record.mode, record.repeat, record.spec, record.slo) == (
        "repeat",
        1,
        "concurrency 1",
        slo,
    )
    [step] = record.steps
    assert step.duration_s == 4.0 and step.role == "repeat"
    [m] = step.models
    assert m.slo is not None and m.slo.attainment == pytest.approx(2 / 3)  # 900 ms misses
    assert m.check is not None and m.check.ok  # p50 is 60 ms
    # the export keeps it, and a result read back is again a single run with its SLOs
    from ometer_tui.core.export import to_dict
    from ometer_tui.core.export_read import result_from_dict

    result.sweep = record
    back = result_from_dict(to_dict(result)).sweep
    assert back is not None and back.single_run and back.slo == slo
    assert back.steps[0].models[0].check == m.check


def test_no_single_run_record_without_slos_runs_or_with_several_endpoints() -> None:
    slo = SloTargets((("ttft", 100.0),))
    assert single_run_record(_single_run([40]), SloTargets()) is None
    assert single_run_record(_single_run([40], warmup=True), slo) is None
    several = _single_run([40])
    one = several.plan
    several.plan = combine_plans(
        [one, replace(one, endpoint=Endpoint(name="f", url=one.endpoint.url))]
    )
    assert single_run_record(several, slo) is None
