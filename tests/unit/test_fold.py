"""The live fold (core/bench/fold.py): engine events in, the result as it stands out."""

from __future__ import annotations

from dataclasses import replace

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.events import (
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.fold import (
    Progress,
    ResultFold,
    aggregate_output_tps,
    error_label,
    is_embedding,
    live_stats,
    main_error,
    planned_requests,
)
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import Endpoint, ModelInfo

A = ModelInfo("a")
B = ModelInfo("b")
EMB = ModelInfo("emb", capabilities=("embedding",))
PLAN = BenchmarkPlan(
    endpoint=Endpoint(name="e", url="http://127.0.0.1:1"), models=(A, B), passes=3, warmup=1
)


def rec(
    model: str,
    i: int,
    *,
    ttft: float = 0.1,
    ok: bool = True,
    tokens: int = 10,
    status: int | None = 200,
    kind: str | None = None,
    warmup: bool = False,
) -> RunRecord:
    return RunRecord(
        model=model,
        pass_index=i,
        prompt_index=0,
        warmup=warmup,
        ok=ok,
        status=status,
        error=None if ok else "boom",
        error_kind=kind,
        ttft_s=ttft if ok else None,
        e2e_s=ttft + 1.0 if ok else None,
        output_tokens=tokens if ok else None,
        decode_tps=10.0 * (i + 1) if ok else None,
        started_at_s=float(i),
        finished_at_s=float(i) + 1.0,
    )


def exchange(n: int) -> ExchangeLogged:
    return ExchangeLogged(
        model="a",
        method="POST",
        url=f"http://x/{n}",
        request_headers={},
        request_body="",
        status=200,
        response_headers={},
        response_excerpt="",
        error=None,
        elapsed_s=0.1,
    )


def test_a_new_fold_has_every_planned_model_queued() -> None:
    fold = ResultFold(PLAN)
    assert list(fold.result.models) == ["a", "b"]
    assert all(m.phase is ModelPhase.QUEUED for m in fold.result.models.values())
    assert fold.requests_total == planned_requests(PLAN) == 2 * (3 + 1)


def test_events_fold_into_records_progress_phases_and_summaries() -> None:
    fold = ResultFold(PLAN)
    change = fold.apply([BenchmarkStarted(models=(A, B), total_runs=7, warmup_requests=2)])
    assert change.header and fold.requests_total == 7
    change = fold.apply(
        [
            ModelPhaseChanged("a", ModelPhase.RUNNING),
            RunFinished(rec("a", 1), 1, 3),
            RunFinished(rec("a", 2), 2, 3),
        ]
    )
    assert change.models == {"a"}
    assert fold.result.models["a"].phase is ModelPhase.RUNNING
    assert len(fold.result.models["a"].records) == 2
    assert fold.progress["a"] == Progress(2, 3)
    assert fold.requests_done == 2
    # a phase event that changes nothing repaints nothing
    assert fold.apply([ModelPhaseChanged("a", ModelPhase.RUNNING)]).empty
    summary = summarise("a", fold.result.models["a"].records)
    fold.apply([ModelFinished("a", summary, ModelPhase.DONE), BenchmarkFinished(False)])
    assert fold.result.models["a"].summary is summary
    assert fold.result.models["a"].phase is ModelPhase.DONE


def test_exchanges_are_kept_up_to_the_limit_and_all_counted() -> None:
    fold = ResultFold(PLAN, max_exchanges=3)
    change = fold.apply([exchange(i) for i in range(5)])
    assert change.exchanges == 5 and not change.models
    assert fold.exchange_count == 5
    assert [e.url for e in fold.exchanges] == ["http://x/2", "http://x/3", "http://x/4"]


def test_finish_cancelled_gives_unfinished_models_their_final_phase() -> None:
    fold = ResultFold(PLAN)
    fold.apply([ModelPhaseChanged("a", ModelPhase.RUNNING), RunFinished(rec("a", 1), 1, 3)])
    final = fold.result  # the engine returns its own result object; same shape
    fold.finish(final, cancel_requested=True)
    assert fold.finished and fold.result.cancelled
    assert fold.result.models["a"].phase is ModelPhase.CANCELLED
    assert fold.result.models["b"].phase is ModelPhase.CANCELLED
    assert fold.result.finished_at is not None
    assert len(fold.result.models["a"].records) == 1  # finished runs are kept


def test_finish_without_a_result_marks_unfinished_models_failed_and_keeps_the_error() -> None:
    fold = ResultFold(PLAN)
    fold.apply(
        [
            RunFinished(rec("a", 1), 1, 3),
            ModelFinished("a", summarise("a", [rec("a", 1)]), ModelPhase.DONE),
        ]
    )
    fold.finish(None, error="ConnectError: refused")
    assert fold.error == "ConnectError: refused"
    assert fold.result.models["a"].phase is ModelPhase.DONE
    assert fold.result.models["b"].phase is ModelPhase.FAILED
    assert fold.result.cancelled


def test_finish_of_a_complete_run_changes_no_phase() -> None:
    fold = ResultFold(PLAN)
    for m in ("a", "b"):
        fold.apply([ModelFinished(m, summarise(m, [rec(m, 1)]), ModelPhase.DONE)])
    fold.finish(fold.result)
    assert not fold.result.cancelled
    assert {m.phase for m in fold.result.models.values()} == {ModelPhase.DONE}


def test_of_result_holds_a_finished_result() -> None:
    fold = ResultFold(PLAN)
    fold.apply([RunFinished(rec("a", 1), 1, 3)])
    loaded = ResultFold.of_result(fold.result)
    assert loaded.finished and loaded.requests_done == 1 and loaded.result is fold.result


def test_live_stats_before_and_after_the_summary() -> None:
    fold = ResultFold(PLAN)
    runs = [
        rec("a", 1, ttft=0.1),
        rec("a", 2, ttft=0.3),
        rec("a", 3, ok=False, status=500),
        rec("a", 0, ttft=9.0, warmup=True),
    ]
    fold.apply([RunFinished(r, i, 3) for i, r in enumerate(runs)])
    live = live_stats(fold.result.models["a"], "ttft_s")
    assert live is not None and live.n == 2 and abs(live.mean - 0.2) < 1e-9  # warm-up out
    summary = summarise("a", runs)
    fold.apply([ModelFinished("a", summary, ModelPhase.DONE)])
    assert live_stats(fold.result.models["a"], "ttft_s") is summary.metrics["ttft_s"]
    assert live_stats(fold.result.models["a"], "latency_s") is None


def test_main_error_is_the_most_frequent_kind() -> None:
    fold = ResultFold(PLAN)
    fold.apply(
        [
            RunFinished(r, 1, 3)
            for r in (
                rec("b", 1, ok=False, status=403, kind="http"),
                rec("b", 2, ok=False, status=None, kind="timeout"),
                rec("b", 3, ok=False, status=403, kind="http"),
            )
        ]
    )
    assert main_error(fold.result.models["b"]) == "http 403"
    assert main_error(fold.result.models["a"]) is None
    assert error_label(rec("b", 1, ok=False, status=None, kind="too_large")) == "too large"


def test_embedding_models_are_known_by_workload_or_records() -> None:
    plan = BenchmarkPlan(endpoint=PLAN.endpoint, models=(A, EMB))
    fold = ResultFold(plan)
    assert is_embedding(fold.result.models["emb"])
    assert not is_embedding(fold.result.models["a"])
    unknown = ModelInfo("mystery")
    fold.result.models["mystery"] = type(fold.result.models["a"])(
        info=unknown,
        records=[
            RunRecord(
                model="mystery",
                pass_index=1,
                prompt_index=0,
                warmup=False,
                ok=True,
                latency_s=0.02,
                started_at_s=0.0,
                finished_at_s=0.02,
            )
        ],
    )
    assert is_embedding(fold.result.models["mystery"])


def test_aggregate_output_tps_counts_ok_measured_runs_over_their_window() -> None:
    fold = ResultFold(PLAN)
    fold.apply(
        [
            RunFinished(rec("a", 1, tokens=10), 1, 3),
            RunFinished(rec("b", 2, tokens=30), 1, 3),
            RunFinished(rec("a", 0, tokens=999, warmup=True), 0, 3),
        ]
    )
    # window: 1.0 -> 3.0 s
    assert aggregate_output_tps(fold.result) == 40 / 2.0
    assert ResultFold(PLAN).aggregate_tps() is None


def test_each_step_of_a_series_adds_its_requests_to_the_total() -> None:
    """A sweep starts the engine once per step: the total is what was done before the
    step plus the step's own (the progress never reads 5/2)."""
    fold = ResultFold(PLAN)
    fold.apply([BenchmarkStarted(models=(A,), total_runs=2, warmup_requests=0)])
    fold.apply([RunFinished(rec("a", 0), 1, 2), RunFinished(rec("a", 1), 2, 2)])
    assert (fold.requests_done, fold.requests_total) == (2, 2)
    fold.apply([BenchmarkStarted(models=(A,), total_runs=3, warmup_requests=0)])
    assert fold.requests_total == 5
    fold.apply([RunFinished(rec("a", 2), 1, 3)])
    assert (fold.requests_done, fold.requests_total) == (3, 5)


def test_counts_are_the_current_steps_and_none_when_not_planned() -> None:
    """What the progress counts: the current start's requests against what it planned;
    nothing to count against for a run for a duration (it plans only its warm-ups) or
    past an open loop's estimate; a finished series: every step's requests."""
    fold = ResultFold(PLAN)
    assert fold.counts() == (0, planned_requests(PLAN))
    fold.apply([BenchmarkStarted(models=(A,), total_runs=2, warmup_requests=0)])
    fold.apply([RunFinished(rec("a", 0), 1, 2)])
    assert fold.counts() == (1, 2)
    fold.apply([RunFinished(rec("a", 1), 2, 2), RunFinished(rec("a", 2), 3, 2)])
    assert fold.counts() == (3, None)  # past the estimate: no wrong total
    fold.apply([BenchmarkStarted(models=(A,), total_runs=1, warmup_requests=1)])  # a duration
    fold.apply([RunFinished(rec("a", i), i, 0) for i in range(5)])
    assert fold.counts() == (5, None)  # not "5/1", nor "8/4"
    fold.finish(None, error="stopped")
    assert fold.series and fold.counts() == (8, None)  # every step's


def test_a_finished_open_loop_for_a_duration_counts_what_it_sent() -> None:
    """Its total was an estimate (Poisson 10/s for 2 s: about 20): done, it shows what it
    sent with no bar, not "done 17/20" as if unfinished; cancelled, how far it got."""
    load = LoadSpec(
        arrival=ArrivalSpec(10.0, ArrivalKind.POISSON),
        stop=StopConditions(duration_s=2.0),
    )
    plan = replace(PLAN, models=(A,), warmup=0, load=load)
    for cancelled, shown in ((False, None), (True, 20)):
        fold = ResultFold(plan)
        fold.apply([BenchmarkStarted(models=(A,), total_runs=20, warmup_requests=0)])
        fold.apply([RunFinished(rec("a", i), i + 1, 20) for i in range(17)])
        assert fold.counts() == (17, 20)  # while it runs: against the estimate
        final = fold.result
        final.cancelled = cancelled
        fold.finish(final, cancel_requested=cancelled)
        assert fold.counts() == (17, shown)
    closed = ResultFold(replace(PLAN, models=(A,), warmup=0))  # a plan's own count stays
    closed.apply([BenchmarkStarted(models=(A,), total_runs=3, warmup_requests=0)])
    closed.apply([RunFinished(rec("a", i), i + 1, 3) for i in range(3)])
    closed.finish(closed.result)
    assert closed.counts() == (3, 3)
