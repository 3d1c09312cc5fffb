"""The dashboard's Steps fields (issue #12): a sweep, the SLO search, SLOs, repeats and a
sweep's limits parsed with the headless flags' rules, each problem one line naming its
field; SLOs alone are a plain run (not a series); a plain run's SLO rows by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.slo_rows import SLO_HEADER, slo_rows
from ometer_tui.core.bench.steps import LoadKind
from ometer_tui.core.bench.sweep_form import steps_from_fields
from ometer_tui.core.models import Endpoint, ModelInfo
from tests.unit.test_slo import RECORDS


def test_the_search_and_its_precision_percentile_and_step_length() -> None:
    steps, problems = steps_from_fields(
        {"search": "rate", "slo": "ttft:500 e2el:4000", "percentile": "95",
         "precision": "0.1", "step_duration": "3"},
        percentile=80,
    )  # fmt: skip
    assert problems == []
    assert steps is not None and steps.series
    assert steps.job.find_max is LoadKind.RATE and steps.job.precision == 0.1
    assert steps.job.sweep is None and steps.default_duration_s == 3.0
    assert steps.slo.percentile == 95  # the field's, over the settings'
    concurrency, _ = steps_from_fields({"search": "concurrency", "slo": "ttft:500"})
    assert concurrency is not None and concurrency.job.find_max is LoadKind.CONCURRENCY


def test_a_sweeps_error_budget_and_early_stop() -> None:
    steps, problems = steps_from_fields(
        {"sweep": "concurrency=1,2", "error_budget": "0.25", "early_stop": "off"}
    )
    assert problems == []
    assert steps is not None and steps.job.sweep is not None
    assert steps.job.sweep.max_error_rate == 0.25 and steps.job.sweep.early_stop is False
    default, _ = steps_from_fields({"sweep": "rate=1,2", "early_stop": "on"})
    assert default is not None and default.job.sweep is not None
    assert default.job.sweep.max_error_rate == 0.1 and default.job.sweep.early_stop
    assert default.default_duration_s == 10.0


def test_slos_alone_are_a_plain_run_and_nothing_is_none() -> None:
    steps, problems = steps_from_fields({"slo": "ttft:500", "percentile": ""}, percentile=95)
    assert problems == [] and steps is not None
    assert not steps.series  # a plain run with SLOs, not a one-step series
    assert steps.slo.limits_ms == (("ttft", 500.0),) and steps.slo.percentile == 95
    assert steps_from_fields({"early_stop": "on", "percentile": "90"}) == (None, [])
    repeat, _ = steps_from_fields({"repeat": "3"})
    assert repeat is not None and repeat.series


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"search": "speed"}, "search: expected rate or concurrency, got 'speed'"),
        ({"search": "rate", "sweep": "rate=1,2", "slo": "ttft:5"},
         "search and sweep: give one, not both"),
        ({"search": "rate"}, "search: give the targets with slo (ttft:500...)"),
        ({"search": "rate", "slo": "ttft:5", "repeat": "2"},
         "repeat: not with search (each probe runs once)"),
        ({"search": "concurrency", "slo": "ttft:5", "precision": "0.1"},
         "precision: applies to search rate"),
        ({"search": "rate", "slo": "ttft:5", "precision": "0"},
         "precision: must be more than 0 and at most 1, got 0"),
        ({"slo": "ttft:5", "percentile": "101"},
         "percentile: must be more than 0 and at most 100, got 101"),
        ({"slo": "ttft:5", "percentile": "p95"}, "percentile: 'p95' is not a number"),
        ({"slo": "ttft:5", "step_duration": "3"}, "step_duration: applies to sweep and search"),
        ({"sweep": "rate=1", "step_duration": "-1"}, "step_duration: must be more than 0, got -1"),
        ({"sweep": "rate=1", "error_budget": "2"},
         "error_budget: must be more than 0 and at most 1, got 2"),
        ({"repeat": "2", "error_budget": "0.5"}, "error_budget: applies to sweep"),
        ({"repeat": "2", "early_stop": "off"}, "early_stop: applies to sweep"),
    ],
)  # fmt: skip
def test_each_problem_is_one_line_naming_its_field(fields: dict[str, str], problem: str) -> None:
    steps, problems = steps_from_fields(fields)
    assert steps is None
    assert problems == [problem]


def test_a_plain_runs_slo_rows_match_the_hand_computation() -> None:
    plan = BenchmarkPlan(endpoint=Endpoint(name="e", url="http://127.0.0.1:9"),
                         models=(ModelInfo("m"), ModelInfo("idle")))  # fmt: skip
    result = empty_result(plan, datetime.now(UTC))
    result.models["m"].records.extend(RECORDS)
    targets = SloTargets((("ttft", 500.0), ("tpot", 50.0)), 50.0)
    rows = slo_rows(result, targets)
    assert len(SLO_HEADER) == len(rows[0])
    # by hand (tests/unit/test_slo.py): 5 measured (warm-up left out), 4 ok, 1 failed;
    # 2 met both SLOs over the 4 s window: 0.5/s and 70 tokens / 4 s. p50 by nearest
    # rank of ttft (0.1, 0.2, 0.4, 0.6, failed) is 0.4 s <= 0.5; of tpot (0.01, 0.03,
    # 0.04, 0.06, failed) 0.04 s <= 0.05: both within at p50 -> meets
    assert rows == [["m", "4/1", "40%", "meets", "0.50", "17.50", "ttft 400 ms, tpot 40.0 ms"]]
    strict = slo_rows(result, SloTargets((("ttft", 300.0),), 50.0))
    assert strict[0][3] == "misses"  # p50 of ttft 0.4 s > 0.3 s
    assert slo_rows(result, SloTargets()) == []  # no SLOs, no rows
