"""One plan split across workers (core/bench/shards.py): the split is exact, and the
merged events and result are one engine's, with shards whose client answers on the loop
(no network; the integration tests run the same against the demo over HTTP)."""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections import Counter
from dataclasses import replace

import pytest

from ometer_tui.core.api.base import GenerationObservation, GenerationRequest
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.load_report import ReportingRunner
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EventSink
from ometer_tui.core.bench.shard_spec import ShardSpec
from ometer_tui.core.bench.shards import (
    MergedRunner,
    Runner,
    WorkerFailed,
    runner_for,
    split_plan,
    worker_count,
)
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec, arrival_times
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo, ServerInfo

A, B = ModelInfo(name="a"), ModelInfo(name="b")
PROMPTS = ("one two", "three four five", "six")


class FakeClient:
    """Answers every request after ``delay_s`` with one token per word of the prompt."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    async def server_info(self) -> ServerInfo:
        return ServerInfo(flavour=ApiFlavour.OPENAI, version="fake")

    async def warm_pool(self, connections: int) -> None:
        del connections

    async def aclose(self) -> None:
        return None

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        sent = time.perf_counter_ns()
        await asyncio.sleep(self.delay_s)
        now = time.perf_counter_ns()
        tokens = len(request.prompt.split())
        times = [now + i * 1000 for i in range(tokens)]
        return GenerationObservation(
            sent_ns=sent,
            first_byte_ns=now,
            first_token_ns=now,
            first_visible_ns=now,
            last_token_ns=times[-1],
            finished_ns=times[-1],
            token_times_ns=times,
            token_chunks=tokens,
            status=200,
            done=True,
            output_tokens=tokens,
            prompt_tokens=tokens + 2,
            text=request.prompt,
        )


def plan_of(**changes: object) -> BenchmarkPlan:
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="fake", url="http://127.0.0.1:9"),
        models=(A, B),
        prompts=PROMPTS,
        passes=4,
        warmup=0,
        concurrency=3,
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


def fake_shards(delay_s: float = 0.0) -> object:
    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        del worker, workers
        return BenchmarkRunner(plan, sink, client=FakeClient(delay_s))  # type: ignore[arg-type]

    return make


async def run_with(
    plan: BenchmarkPlan, workers: int, delay_s: float = 0.0
) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    if workers == 1:  # one engine, as --workers 1 runs it
        runner: Runner = BenchmarkRunner(plan, events.append, client=FakeClient(delay_s))  # type: ignore[arg-type]
    else:
        runner = MergedRunner(
            plan,
            events.append,
            workers=workers,
            shard_factory=fake_shards(delay_s),  # type: ignore[arg-type]
        )
    return await runner.run(), events


def sent_work(result: BenchmarkResult) -> dict[str, Counter[tuple[int, int, int | None]]]:
    """Per model: the (pass, prompt, conversation) of every measured run."""
    return {
        name: Counter(
            (r.pass_index, r.prompt_index, r.load.conversation if r.load else None)
            for r in mr.records
            if not r.warmup
        )
        for name, mr in result.models.items()
    }


def assert_one_engine_shape(events: list[BenchmarkEvent], result: BenchmarkResult) -> None:
    """One Started, one ModelFinished per model, one Finished last, progress monotonic up
    to the total; and the events fold into the runner's result."""
    assert sum(isinstance(e, BenchmarkStarted) for e in events) == 1
    assert isinstance(events[0], BenchmarkStarted)
    assert isinstance(events[-1], BenchmarkFinished)
    assert sum(isinstance(e, BenchmarkFinished) for e in events) == 1
    finished = Counter(e.model for e in events if isinstance(e, ModelFinished))
    assert finished == Counter(list(result.models))
    for name in result.models:
        done = [
            e.model_done for e in events if isinstance(e, RunFinished) and e.record.model == name
        ]
        assert done == sorted(done)
        runs = [e for e in events if isinstance(e, RunFinished) and e.record.model == name]
        measured = [e for e in runs if not e.record.warmup]
        if measured:
            assert measured[-1].model_done == len(measured) <= measured[-1].model_total
        phases = [e.phase for e in events if isinstance(e, ModelPhaseChanged) and e.model == name]
        assert phases == sorted(phases, key=[ModelPhase.WARMING, ModelPhase.RUNNING].index)
        assert len(phases) == len(set(phases))
    fold = ResultFold(result.plan)
    fold.apply(events)
    for name, mr in result.models.items():
        assert sorted(id(r) for r in fold.result.models[name].records) == sorted(
            id(r) for r in mr.records
        )
        assert fold.result.models[name].phase is mr.phase


# -- the split ------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", [1, 2, 3, 5, 7])
def test_shard_numbering_covers_the_whole_sequence_once(lanes: int) -> None:
    for count in range(1, lanes + 1):
        shards = [ShardSpec(i, count, lanes) for i in range(count)]
        for n in range(0, 40):
            union: list[int] = []
            for s in shards:
                mine = [s.global_index(j) for j in range(s.share(n))]
                assert mine == sorted(mine)
                assert all(s.owns(k) for k in mine)
                union += mine
            assert sorted(union) == list(range(n))


def test_a_closed_loop_splits_its_streams_and_rate_limits() -> None:
    plan = plan_of(concurrency=5, rate_limit=RateLimit(60.0, 6000.0))
    shards = split_plan(plan, 2, origin_ns=123)
    assert [s.concurrency for s in shards] == [3, 2]
    assert all(s.rate_limit == RateLimit(30.0, 3000.0) for s in shards)
    assert [s.shard for s in shards] == [ShardSpec(0, 2, 5, 123), ShardSpec(1, 2, 5, 123)]
    assert all(s.workers == 1 and not s.validate() for s in shards)
    assert worker_count(plan, 9) == 5  # never more workers than streams
    assert worker_count(plan_of(passes=1, prompts=("x", "y")), 9) == 2  # ... or runs
    # ramp-up: each worker's streams start when one engine's would
    starts = sorted(t for s in shards for t in s.shard.stream_starts(10.0))  # type: ignore[union-attr]
    assert starts == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_an_open_loop_shares_one_timetable_and_splits_its_connections() -> None:
    load = LoadSpec(
        arrival=ArrivalSpec(50.0),
        max_concurrency=5,
        stop=StopConditions(max_requests=100, max_errors=3),
    )
    shards = split_plan(plan_of(load=load), 2)
    assert [s.load.max_concurrency for s in shards if s.load] == [3, 2]
    assert [s.load.stop.max_errors for s in shards if s.load] == [2, 1]
    assert all(s.load and s.load.stop.max_requests == 100 for s in shards)  # one timetable
    assert all(s.load and s.load.arrival == load.arrival and s.load.seed == 0 for s in shards)
    assert [s.shard.lanes for s in shards if s.shard] == [2, 2]
    assert worker_count(plan_of(load=replace(load, max_concurrency=2)), 8) == 2


# -- the merge ------------------------------------------------------------------------


@pytest.mark.parametrize("parallel_models", [1, 2])
async def test_closed_loop_result_is_one_engines_with_2_and_3_workers(
    parallel_models: int,
) -> None:
    plan = plan_of(parallel_models=parallel_models, prices=None)
    one, _ = await run_with(plan, 1)
    for workers in (2, 3):
        merged, events = await run_with(plan, workers)
        assert_one_engine_shape(events, merged)
        assert sent_work(merged) == sent_work(one)
        for name, mr in merged.models.items():
            ref = one.models[name]
            assert mr.phase is ref.phase is ModelPhase.DONE
            assert mr.summary is not None and ref.summary is not None
            assert (
                (mr.summary.runs, mr.summary.ok, mr.summary.output_tokens)
                == (
                    ref.summary.runs,
                    ref.summary.ok,
                    ref.summary.output_tokens,
                )
                == (12, 12, 24)
            )
            assert mr.summary == summarise(name, mr.records, plan.prices)
            starts = [r.started_at_s for r in mr.records]
            assert starts == sorted(starts)  # records in a deterministic order
        started = events[0]
        assert isinstance(started, BenchmarkStarted) and started.total_runs == 24
        assert merged.server is not None and not merged.cancelled


async def test_warm_up_is_sent_by_every_worker_and_said_so() -> None:
    merged, events = await run_with(plan_of(warmup=1), 3)
    assert merged.warmup_requests == 3 * 2
    started = events[0]
    assert isinstance(started, BenchmarkStarted) and started.total_runs == 24 + 6
    for mr in merged.models.values():
        assert sum(r.warmup for r in mr.records) == 3
        assert mr.summary is not None and mr.summary.runs == 12
    assert_one_engine_shape(events, merged)


async def test_open_loop_union_is_the_one_engine_timetable_exactly() -> None:
    arrival = ArrivalSpec(2000.0, ArrivalKind.POISSON)
    load = LoadSpec(arrival=arrival, stop=StopConditions(max_requests=30), seed=7)
    plan = plan_of(models=(A,), load=load)
    offsets = [t for _, t in zip(range(30), arrival_times(arrival, 7), strict=False)]
    one, _ = await run_with(plan, 1)
    for workers in (2, 3):
        merged, events = await run_with(plan, workers)
        assert_one_engine_shape(events, merged)
        records = merged.models["a"].records
        by_conv = {r.load.conversation: r for r in records if r.load is not None}
        assert sorted(by_conv) == list(range(30))  # every arrival once
        assert sent_work(merged) == sent_work(one)  # same prompts for the same arrivals
        for w in range(workers):  # each worker's sends on the one timetable, to the ns
            mine = [k for k in range(30) if k % workers == w]
            first = by_conv[mine[0]].load
            assert first is not None and first.intended_at_s is not None
            for k in mine:
                stamp = by_conv[k].load
                assert stamp is not None and stamp.intended_at_s is not None
                gap = stamp.intended_at_s - first.intended_at_s
                assert gap == pytest.approx(offsets[k] - offsets[mine[0]], abs=2e-9)
        summary = merged.models["a"].summary
        assert summary is not None and summary.load is not None
        assert summary.load.as_dict()["requests_sent"] == 30
        assert summary.load.as_dict()["stop_reason"] == "30 requests sent (--requests)"


async def test_closed_load_sends_conversations_0_to_n_once() -> None:
    load = LoadSpec(stop=StopConditions(max_requests=17), ramp_up_s=0.01)
    plan = plan_of(load=load, concurrency=4)
    one, _ = await run_with(plan, 1)
    merged, events = await run_with(plan, 3)
    assert_one_engine_shape(events, merged)
    for name, mr in merged.models.items():
        convs = sorted(r.load.conversation for r in mr.records if r.load is not None)
        assert convs == list(range(17))
        assert sent_work(merged)[name] == sent_work(one)[name]


async def test_cancel_reaches_every_worker() -> None:
    load = LoadSpec(stop=StopConditions(duration_s=30.0))
    plan = plan_of(load=load, concurrency=4)
    events: list[BenchmarkEvent] = []
    runner = MergedRunner(
        plan,
        events.append,
        workers=2,
        shard_factory=fake_shards(0.002),  # type: ignore[arg-type]
    )

    def watch(event: BenchmarkEvent) -> None:
        events.append(event)
        if isinstance(event, RunFinished) and event.model_done >= 10:
            runner.cancel()

    runner._emit = watch  # cancel from inside the stream, as a consumer would
    result = await asyncio.wait_for(runner.run(), 10)
    assert result.cancelled and runner.cancel_requested
    assert isinstance(events[-1], BenchmarkFinished) and events[-1].cancelled
    finished = [e for e in events if isinstance(e, ModelFinished)]
    assert sorted(e.model for e in finished) == ["a", "b"]
    assert all(e.phase is ModelPhase.CANCELLED for e in finished)
    measured = [r for r in result.models["a"].records if not r.warmup]
    assert 10 <= len(measured) < 100  # stopped soon after the cancel


async def test_a_worker_that_cannot_be_made_is_named() -> None:
    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        if worker == 2:
            raise OSError("cannot start a process")
        return BenchmarkRunner(plan, sink, client=FakeClient(0.002))  # type: ignore[arg-type]

    plan = plan_of(models=(A,), load=LoadSpec(stop=StopConditions(duration_s=30.0)))
    runner = MergedRunner(plan, lambda e: None, workers=3, shard_factory=make)
    with pytest.raises(WorkerFailed, match="worker 3 failed: OSError: cannot start"):
        await asyncio.wait_for(runner.run(), 10)
    assert runner.result.cancelled


async def test_cancel_before_the_start_runs_nothing() -> None:
    events: list[BenchmarkEvent] = []
    runner = MergedRunner(
        plan_of(),
        events.append,
        workers=2,
        shard_factory=fake_shards(),  # type: ignore[arg-type]
    )
    runner.cancel()
    result = await runner.run()
    assert result.cancelled and events == []
    assert all(mr.phase is ModelPhase.CANCELLED and not mr.records for mr in result.models.values())


async def test_a_failing_worker_cancels_the_others_and_is_named() -> None:
    load = LoadSpec(stop=StopConditions(duration_s=30.0))
    plan = plan_of(models=(A,), load=load, concurrency=2)

    class Failing:
        def __init__(self, inner: BenchmarkRunner) -> None:
            self.inner = inner

        @property
        def result(self) -> BenchmarkResult:
            return self.inner.result

        def cancel(self) -> None:
            self.inner.cancel()

        async def run(self) -> BenchmarkResult:
            await asyncio.sleep(0.05)
            raise RuntimeError("the worker's process died")

    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        inner = BenchmarkRunner(plan, sink, client=FakeClient(0.002))  # type: ignore[arg-type]
        return Failing(inner) if worker == 1 else inner

    events: list[BenchmarkEvent] = []
    runner = MergedRunner(plan, events.append, workers=2, shard_factory=make)
    with pytest.raises(
        WorkerFailed, match="worker 2 failed: RuntimeError: the worker's process"
    ) as caught:
        await asyncio.wait_for(runner.run(), 10)
    assert caught.value.worker == 1
    kept = runner.result.models["a"].records
    assert kept and all(r.ok for r in kept)  # worker 0's finished runs are kept
    assert runner.result.cancelled
    assert isinstance(events[-1], BenchmarkFinished) and events[-1].cancelled


def test_runner_for_is_one_engine_for_one_worker_and_a_merge_above() -> None:
    plan = plan_of()
    one = runner_for(plan, lambda e: None, workers=1)
    # one engine, wrapped to report its load (WorkerLoad) as every worker does
    assert isinstance(one, ReportingRunner) and type(one.inner) is BenchmarkRunner
    merged = runner_for(plan, lambda e: None, workers=2, shard_factory=fake_shards())  # type: ignore[arg-type]
    assert isinstance(merged, MergedRunner)


async def test_a_shared_start_lines_the_workers_timetables_up_to_the_ns() -> None:
    """With ``start_lead_s`` every worker starts its timetable at one instant: the union
    of their intended times is the one-engine timetable itself, not only per worker."""
    arrival = ArrivalSpec(1000.0, ArrivalKind.POISSON)
    load = LoadSpec(arrival=arrival, stop=StopConditions(max_requests=24), seed=3)
    plan = plan_of(models=(A,), load=load)
    offsets = [t for _, t in zip(range(24), arrival_times(arrival, 3), strict=False)]
    runner = MergedRunner(
        plan,
        lambda e: None,
        workers=3,
        shard_factory=fake_shards(),  # type: ignore[arg-type]
        start_lead_s=0.2,
    )
    result = await runner.run()
    stamps = {r.load.conversation: r.load for r in result.models["a"].records if r.load}
    assert sorted(stamps) == list(range(24))
    zero = stamps[0].intended_at_s
    assert zero is not None
    for k, stamp in stamps.items():
        assert stamp.intended_at_s is not None
        assert stamp.intended_at_s - zero == pytest.approx(offsets[k], abs=2e-9)


def test_workers_told_says_the_choice_and_the_warning(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one wording of the automatic choice, for headless (stderr) and the dashboard
    (notices): the choice as a note, the calibration's warning as a warning; a number
    the user set is no news (only its warning)."""
    import io

    from ometer_tui import worker_args
    from ometer_tui.core.bench.calibrate import Calibration, write_cached
    from ometer_tui.core.bench.shards import workers_told

    cache = tmp_path / "calibration.json"
    write_cached(
        Calibration(per_chunk_us=100.0, capacity_chunks_per_s=100.0, cores=1, python="t",
                    measured_at=time.time(), took_s=0.0),
        cache,
    )  # fmt: skip
    monkeypatch.setenv("OMETER_TUI_CALIBRATION", str(cache))
    monkeypatch.setattr("ometer_tui.core.bench.calibrate.usable_cores", lambda: 2)
    plan = plan_of(models=(A,), concurrency=20)  # 20 streams x 50 tokens/s asked
    notes: list[str] = []
    warnings: list[str] = []
    assert workers_told(plan, notes.append, warnings.append) == 2
    assert notes == [
        "chosen automatically: 2 workers: ~1,000 chunks/s asked, one worker holds ~100 "
        "within 3 ms of lag (capped at the cores: 2)"
    ]
    assert warnings == [
        "this asks ~1,000 chunks/s; this machine holds ~200 within 3 ms of lag: numbers "
        "past that are the client's limit, not the server's"
    ]
    err = io.StringIO()
    assert worker_args.choose(plan, 2, err, quiet=True) == 2
    assert err.getvalue() == (
        "ometer-tui: this asks ~1,000 chunks/s; this machine holds ~200 within 3 ms of lag: "
        "numbers past that are the client's limit, not the server's\n"
    )
