"""Self-calibration (issue 15 §5): choosing workers, the fit, and the cache."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ometer_tui.core.bench import calibrate
from ometer_tui.core.bench.calibrate import (
    Calibration,
    CalibrationStep,
    choose_workers,
    fit_calibration,
    load_calibration,
    read_cached,
    write_cached,
)
from ometer_tui.core.bench.events import WorkerLoad
from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
from ometer_tui.core.bench.workloads.arrivals import ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo


def _cal(capacity: float = 10_000.0, **changes: object) -> Calibration:
    cal = Calibration(
        per_chunk_us=30.0,
        capacity_chunks_per_s=capacity,
        cores=2,
        python="CPython 3.11.7",
        measured_at=time.time(),
        took_s=4.0,
        steps=(
            CalibrationStep(
                20,
                100.0,
                2000.0,
                16.0,
                1.2,
                reports=1,
                worst_lag_ms=1.2,
                start_lag_ms=9.5,
                runs=40,
                tokens=4000,
                events=47,
                read_chunks=3990,
            ),
        ),
        machine="test",
    )
    return replace(cal, **changes)  # type: ignore[arg-type]


def _plan(
    concurrency: int = 1,
    models: int = 1,
    parallel: int = 1,
    load: LoadSpec | None = None,
    max_tokens: int | None = 128,
    name: str = "e",
    workers: int | None = None,
) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=Endpoint(name=name, url="http://127.0.0.1:1", api=ApiFlavour.OPENAI),
        models=tuple(ModelInfo(name=f"m{i}") for i in range(models)),
        concurrency=concurrency,
        parallel_models=parallel,
        load=load,
        params=GenerationParams(max_tokens=max_tokens),
        workers=workers,
    )


def _open(rate: float, out: int | None = None, max_concurrency: int | None = None) -> LoadSpec:
    return LoadSpec(
        arrival=ArrivalSpec(rate=rate),
        max_concurrency=max_concurrency,
        stop=StopConditions(max_requests=100),
        output_tokens=None if out is None else Fixed(out),
    )


# -- choose_workers ---------------------------------------------------------------------------


def test_closed_loop_streams_times_models_times_the_probe_rate() -> None:
    # 60 streams x 2 models at once x 100 tok/s = 12,000 chunks/s; one worker holds 10,000
    choice = choose_workers(_plan(60, models=2, parallel=2), _cal(), 4, 100.0)
    assert choice.asked_chunks_per_s == 12_000
    assert choice.workers == 2
    assert choice.streams == 120
    assert not choice.user_set
    assert choice.warning is None
    assert choice.assumptions == ()
    assert "12,000 chunks/s asked" in choice.reason


def test_models_one_after_the_other_count_once() -> None:
    choice = choose_workers(_plan(60, models=2, parallel=1), _cal(), 4, 100.0)
    assert choice.asked_chunks_per_s == 6_000
    assert choice.workers == 1


def test_closed_loop_without_a_probe_figure_uses_the_stated_default() -> None:
    choice = choose_workers(_plan(100), _cal(), 4)
    assert choice.asked_chunks_per_s == 100 * calibrate.DEFAULT_STREAM_TOKENS_PER_S
    assert choice.workers == 1
    assert any("50 tokens/s per stream" in a for a in choice.assumptions)


def test_open_loop_rate_times_output_tokens() -> None:
    # 30 requests/s x 500 tokens = 15,000 chunks/s: 2 workers of 10,000
    choice = choose_workers(_plan(load=_open(30, out=500)), _cal(), 4, 100.0)
    assert choice.asked_chunks_per_s == 15_000
    assert choice.workers == 2
    # Little's law: 30/s x 5 s per answer = 150 in flight
    assert choice.streams == 150


def test_open_loop_capped_by_max_concurrency() -> None:
    # at most 10 in flight x 100 tok/s = 1,000 chunks/s, whatever the rate
    choice = choose_workers(_plan(load=_open(30, 500, max_concurrency=10)), _cal(), 4, 100.0)
    assert choice.asked_chunks_per_s == 1_000
    assert choice.workers == 1
    assert choice.streams == 10


def test_open_loop_without_output_length_assumes_max_tokens_and_says_so() -> None:
    choice = choose_workers(_plan(load=_open(100), max_tokens=128), _cal(), 4, 100.0)
    assert choice.asked_chunks_per_s == 12_800
    assert choice.workers == 2
    assert any("max_tokens (128)" in a for a in choice.assumptions)
    no_cap = choose_workers(_plan(load=_open(10), max_tokens=None), _cal(), 4, 100.0)
    assert no_cap.asked_chunks_per_s == 10 * calibrate.DEFAULT_OUTPUT_TOKENS


def test_capped_at_the_cores_with_the_warning() -> None:
    # 1,000 streams x 100 tok/s = 100,000 chunks/s: 10 workers needed, 4 cores hold 40,000
    choice = choose_workers(_plan(1000), _cal(), 4, 100.0)
    assert choice.workers == 4
    assert choice.machine_capacity_chunks_per_s == 40_000
    assert "capped at the cores" in choice.reason
    assert choice.warning == (
        "this asks ~100,000 chunks/s; this machine holds ~40,000 within 3 ms of lag: "
        "numbers past that are the client's limit, not the server's"
    )


def test_capped_at_the_streams() -> None:
    # 3 streams x 100 tok/s = 300 chunks/s on workers of 50: 6 needed, only 3 streams
    choice = choose_workers(_plan(3), _cal(capacity=50.0), 8, 100.0)
    assert choice.workers == 3
    assert "capped at the streams" in choice.reason
    assert choice.warning is None  # 8 cores x 50 = 400 >= 300


def test_the_user_s_workers_win_and_the_warning_still_applies() -> None:
    plan = _plan(300, workers=1)  # 30,000 chunks/s
    choice = choose_workers(plan, _cal(), 4, 100.0)
    assert choice.workers == 1
    assert choice.user_set
    assert "set by the user" in choice.reason
    assert choice.warning is not None and "1 worker hold ~10,000" in choice.warning
    over = choose_workers(_plan(1000, workers=8), _cal(), 4, 100.0)
    assert over.workers == 8  # more than the cores: the user's call
    assert over.warning is not None and "this machine holds ~40,000" in over.warning
    enough = choose_workers(_plan(100, workers=3), _cal(), 4, 100.0)
    assert enough.workers == 3 and enough.warning is None


def test_several_endpoints_add_up_only_when_run_together() -> None:
    a, b = _plan(60, name="a"), _plan(70, name="b")
    sequential = choose_workers(combine_plans([a, b]), _cal(), 4, 100.0)
    assert sequential.asked_chunks_per_s == 7_000  # the heavier one
    assert sequential.workers == 1
    together = choose_workers(combine_plans([a, b], parallel=True), _cal(), 4, 100.0)
    assert together.asked_chunks_per_s == 13_000
    assert together.workers == 2
    assert together.streams == 130


def test_at_least_one_worker() -> None:
    assert choose_workers(_plan(1), _cal(), 1, 1.0).workers == 1
    assert choose_workers(_plan(1), _cal(), 0, 1.0).workers == 1


def test_figures_are_rounded_to_two_significant_digits() -> None:
    assert calibrate.about(12_345) == "12,000"
    assert calibrate.about(9_876) == "9,900"
    assert calibrate.about(2.5) == "2.5"


# -- the fit -----------------------------------------------------------------------------------


def _step(load: float, cpu: float, lag: float) -> CalibrationStep:
    return CalibrationStep(int(load / 100), 100.0, load, cpu * 100, lag)


def test_fit_cost_is_the_slope_and_capacity_where_the_lag_line_reaches_the_limit() -> None:
    # CPU = 7% + 60 us per chunk; lag = 0.5 ms + 2 ms per 1,000 chunks/s: 3 ms at 1,250
    steps = [_step(load, 0.07 + 60e-6 * load, 0.5 + 2e-3 * load) for load in (1e3, 2e3, 4e3)]
    fit = fit_calibration(steps, 3.0)
    assert fit.per_chunk_us == pytest.approx(60.0)
    assert fit.idle_cpu_percent == pytest.approx(7.0)
    assert fit.base_lag_ms == pytest.approx(0.5)
    assert fit.lag_ms_per_kchunk == pytest.approx(2.0)
    assert fit.capacity_chunks_per_s == pytest.approx(1250.0)
    assert fit.note is None


def test_the_lag_grows_with_the_load_while_the_cpu_is_far_from_busy() -> None:
    # measured on the quiet 2-core machine (load average 0.04): the whole engine lagged
    # 9.7 ms at a third of a core. Where the lag line reaches 3 ms, between the loads.
    steps = [_step(1010.0, 0.121, 2.64), _step(2508.0, 0.226, 4.29), _step(4940.0, 0.34, 9.69)]
    fit = fit_calibration(steps, 3.0)
    assert 1010.0 < fit.capacity_chunks_per_s < 2508.0
    assert fit.note is None


def test_fit_without_lag_growth_is_the_heaviest_load_held_and_says_so() -> None:
    # the old fit assumed half a core busy here (~7,000 chunks/s): never measured
    steps = [_step(load, 0.07 + 60e-6 * load, 1.0) for load in (1e3, 2e3, 4e3)]
    fit = fit_calibration(steps, 3.0)
    assert fit.capacity_chunks_per_s == 4000.0
    assert fit.note is not None and "did not grow" in fit.note


def test_fit_extrapolates_to_twice_the_heaviest_load_at_most() -> None:
    # a lag line reaching 3 ms at 20,000 chunks/s, from loads of 1,000 and 2,000
    steps = [_step(load, 0.07 + 60e-6 * load, 1.0 + 0.1e-3 * load) for load in (1e3, 2e3)]
    fit = fit_calibration(steps, 3.0)
    assert fit.capacity_chunks_per_s == pytest.approx(4000.0)
    assert fit.note is not None and "2x the heaviest" in fit.note


def test_fit_on_a_busy_machine_gives_the_lightest_load_and_a_note() -> None:
    steps = [_step(2000.0, 0.16, 6.0), _step(6000.0, 0.28, 9.0)]
    fit = fit_calibration(steps, 3.0)
    assert fit.capacity_chunks_per_s == 2000.0
    assert fit.note is not None and "busy" in fit.note
    assert math.isfinite(fit.per_chunk_us) and fit.per_chunk_us > 0
    # a heavier step starved of CPU read fewer chunks than offered: still the lightest step
    starved = [_step(2000.0, 0.12, 8.0), _step(6000.0, 0.1, 9.0), _step(863.0, 0.2, 2000.0)]
    starved[2] = replace(starved[2], streams=120)
    fit = fit_calibration(starved, 3.0)
    assert fit.capacity_chunks_per_s == 2000.0
    assert fit.note is not None and "8.0 ms (p99) already at 2,000 chunks/s" in fit.note


def test_a_busy_machine_that_read_short_says_so() -> None:
    steps = [CalibrationStep(20, 100.0, 1500.0, 12.0, 1.0)]  # 2,000 offered
    fit = fit_calibration(steps, 3.0)
    assert fit.capacity_chunks_per_s == 1500.0
    assert fit.note is not None
    assert fit.note.startswith("only 1,500 of the 2,000 chunks/s offered were read")


def test_fit_never_below_a_load_measured_within_the_limit() -> None:
    # a steep fitted lag line, but 4,000 chunks/s was measured at 2.9 ms
    steps = [_step(1000.0, 0.12, 0.5), _step(2000.0, 0.2, 2.8), _step(4000.0, 0.3, 2.9)]
    assert fit_calibration(steps, 3.0).capacity_chunks_per_s >= 4000.0


def test_fit_never_above_a_load_measured_past_the_limit() -> None:
    # a noisy lighter load makes the line reach 3 ms late, but 4,000 was measured at 3.1 ms
    steps = [_step(1000.0, 0.12, 2.9), _step(2000.0, 0.2, 0.5), _step(4000.0, 0.3, 3.1)]
    assert fit_calibration(steps, 3.0).capacity_chunks_per_s == 4000.0


def test_a_load_read_short_is_not_held_however_small_its_lag() -> None:
    # measured at load average 9: 120 streams offered 12,000 chunks/s, 8,311 were read
    # at 1.85 ms; the lightest load lagged 4.12 ms
    steps = [
        CalibrationStep(20, 100.0, 1990.0, 12.0, 4.12),
        CalibrationStep(120, 100.0, 8311.0, 19.0, 1.85),
    ]
    assert not steps[1].held(3.0)
    fit = fit_calibration(steps, 3.0)
    assert fit.capacity_chunks_per_s == 1990.0
    assert fit.note is not None and "busy" in fit.note


def test_fit_needs_chunks() -> None:
    with pytest.raises(calibrate.CalibrationError):
        fit_calibration([_step(0.0, 0.1, 1.0)], 3.0)


# -- a step's figures from the engine's reports ----------------------------------------------


def _report(interval: float, chunks: float, cpu: float, lag: float) -> WorkerLoad:
    return WorkerLoad(
        worker=0, workers=1, node="n", pid=1, interval_s=interval,
        chunks_per_s=chunks, cpu_percent=cpu, lag_p99_ms=lag, in_flight=20,
    )  # fmt: skip


def test_a_step_leaves_out_the_start_and_reads_the_engine_s_own_reports() -> None:
    loads = [
        _report(1.0, 700.0, 30.0, 25.0),  # connections, streams starting
        _report(1.0, 2000.0, 20.0, 2.0),
        _report(0.5, 1900.0, 26.0, 5.0),
        _report(0.15, 400.0, 50.0, 40.0),  # the stop: too short to count
    ]
    step = calibrate.step_figures(20, 100.0, loads, settle_reports=1, steady_reports=3)
    assert step.streams == 20 and step.offered_chunks_per_s == 2000.0
    assert step.reports == 2
    assert step.chunks_per_s == pytest.approx((2000.0 + 0.5 * 1900.0) / 1.5)
    assert step.cpu_percent == pytest.approx((20.0 + 0.5 * 26.0) / 1.5)
    assert step.lag_p99_ms == pytest.approx(3.5)  # the median of 2.0 and 5.0
    assert step.worst_lag_ms == 5.0
    assert step.start_lag_ms == 25.0
    assert step.read_chunks == (700 + 2000 + 950 + 60)  # every report, the start too
    one = calibrate.step_figures(20, 100.0, loads, settle_reports=1, steady_reports=1)
    assert one.reports == 1 and one.lag_p99_ms == 2.0 and one.chunks_per_s == 2000.0


def test_an_engine_that_stalled_past_its_reports_is_read_from_its_last() -> None:
    step = calibrate.step_figures(20, 100.0, [_report(2.1, 900.0, 40.0, 300.0)], 1, 1)
    assert step.lag_p99_ms == 300.0 and step.reports == 1
    assert not step.held(3.0)
    with pytest.raises(calibrate.CalibrationError, match="no load report"):
        calibrate.step_figures(20, 100.0, [], 1, 1)


# -- the cache -------------------------------------------------------------------------------


def test_written_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "calibration.json"
    cal = _cal(note="a caveat")
    assert write_cached(cal, path) == path
    assert read_cached(path) == calibrate.CacheRead(cal)
    assert [p.name for p in path.parent.iterdir()] == ["calibration.json"]  # no temp left


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calibration.json"
    old = _cal(capacity=1234.0)
    write_cached(old, path)
    before = path.read_bytes()

    def broken(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match=r"calibration\.json"):
        write_cached(_cal(capacity=9999.0), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]


class _Measure:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Calibration:
        self.calls += 1
        return _cal(capacity=5000.0 + self.calls)


def test_a_fresh_cache_is_reused_and_refresh_measures(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    measure, notes = _Measure(), []
    first = load_calibration(path, measure=measure, note=notes.append)
    assert measure.calls == 1 and notes == []  # nothing cached yet: measured quietly
    again = load_calibration(path, measure=measure, note=notes.append)
    assert again == first and measure.calls == 1
    fresh = load_calibration(path, refresh=True, measure=measure, note=notes.append)
    assert measure.calls == 2 and fresh.capacity_chunks_per_s == 5002.0
    assert read_cached(path).calibration == fresh


def test_an_expired_cache_is_measured_again_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    write_cached(_cal(measured_at=1_000_000.0), path)
    now = 1_000_000.0 + 31 * 86_400
    read = read_cached(path, now=now)
    assert read.calibration is None and read.problem is not None and "31 days" in read.problem
    assert read_cached(path, now=1_000_000.0 + 29 * 86_400).calibration is not None
    measure, notes = _Measure(), []
    load_calibration(path, measure=measure, note=notes.append, now=now)
    assert measure.calls == 1
    assert len(notes) == 1 and "measuring again" in notes[0]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"format": 2, "key": {}, "calibration": {"per_chunk_us": "x"}}',
        '{"format": 2, "key": {}, "calibration": {"per_chunk_us": 1.0}}',
        '{"format": 2, "key": {}, "calibration": {"per_chunk_us": 1.0, "steps": [1]}}',
        "",
    ],
)
def test_a_corrupt_cache_is_measured_again_never_a_crash(tmp_path: Path, content: str) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(content)
    measure, notes = _Measure(), []
    cal = load_calibration(path, measure=measure, note=notes.append)
    assert measure.calls == 1 and cal.capacity_chunks_per_s == 5001.0
    assert len(notes) == 1 and "corrupt" in notes[0] and "measuring again" in notes[0]
    assert read_cached(path).calibration == cal  # replaced by a good one


def test_a_cache_of_the_read_path_alone_is_measured_again(tmp_path: Path) -> None:
    """Format 1 timed the client's read path alone (~4x what the engine holds): a
    well-formed one is still measured again, never read as the engine's figure."""
    path = tmp_path / "calibration.json"
    write_cached(_cal(capacity=12_000.0), path)
    doc = json.loads(path.read_text())
    doc["format"] = 1
    path.write_text(json.dumps(doc))
    measure, notes = _Measure(), []
    cal = load_calibration(path, measure=measure, note=notes.append)
    assert measure.calls == 1 and cal.capacity_chunks_per_s == 5001.0
    assert len(notes) == 1 and "older kind" in notes[0] and "measuring again" in notes[0]


def test_a_cache_from_another_machine_or_version_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    write_cached(_cal(), path)
    doc = json.loads(path.read_text())
    doc["key"]["version"] = "0.0.1"
    path.write_text(json.dumps(doc))
    read = read_cached(path)
    assert read.calibration is None and read.problem is not None
    assert "another machine" in read.problem


def test_an_unwritable_cache_is_one_line_and_the_calibration_is_still_used(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = blocker / "calibration.json"  # its folder is a file
    measure, notes = _Measure(), []
    cal = load_calibration(path, measure=measure, note=notes.append)
    assert cal.capacity_chunks_per_s == 5001.0
    assert len(notes) == 1 and "not cached" in notes[0]


def test_the_cache_lives_in_the_user_cache_folder_unless_the_env_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(calibrate.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert calibrate.cache_path() == tmp_path / "xdg" / "ometer-tui" / "calibration.json"
    monkeypatch.setenv(calibrate.CACHE_ENV, str(tmp_path / "c.json"))
    assert calibrate.cache_path() == tmp_path / "c.json"


# -- workers_for: what `run` calls with --workers unset -----------------------------------


def test_a_small_plan_needs_no_calibration(tmp_path: Path) -> None:
    measure, notes = _Measure(), []
    got = calibrate.workers_for(
        _plan(4), path=tmp_path / "c.json", measure=measure, note=notes.append
    )
    assert got == (1, None)  # 4 streams x 50 tok/s = 200 chunks/s
    assert measure.calls == 0 and notes == []
    assert calibrate.workers_for(_plan(4, workers=3), path=tmp_path / "c.json",
                                 measure=measure) == (3, None)  # fmt: skip


def test_a_large_plan_measures_once_says_so_then_uses_the_cache(tmp_path: Path) -> None:
    path, measure, notes = tmp_path / "c.json", _Measure(), []
    # 200 streams x 100 tok/s = 20,000 chunks/s on workers of 5,001: 4, capped at 2 cores
    workers, choice = calibrate.workers_for(
        _plan(200), cores=2, per_stream_tokens_per_s=100.0, path=path, measure=measure,
        note=notes.append,
    )  # fmt: skip
    assert workers == 2 and choice is not None and choice.warning is not None
    assert measure.calls == 1
    assert len(notes) == 1 and "measuring what one worker holds" in notes[0]
    again, _ = calibrate.workers_for(
        _plan(200), cores=2, per_stream_tokens_per_s=100.0, path=path, measure=measure,
        note=notes.append,
    )  # fmt: skip
    assert again == 2 and measure.calls == 1 and len(notes) == 1


def test_a_failed_calibration_is_a_note_and_one_worker(tmp_path: Path) -> None:
    def failing() -> Calibration:
        raise calibrate.CalibrationError("the calibration server did not start")

    notes: list[str] = []
    got = calibrate.workers_for(
        _plan(200), cores=2, path=tmp_path / "c.json", measure=failing, note=notes.append
    )
    assert got == (1, None)
    assert notes[-1] == (
        "the calibration failed (the calibration server did not start): 1 worker(s)"
    )
