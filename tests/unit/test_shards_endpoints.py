"""A plan on several endpoints split across workers (core/bench/shards.py): the merged
result and events are one engine's, endpoint by endpoint. Two endpoints on the session's
demo server (one through each API), every worker an engine on the test's loop."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from dataclasses import replace

import pytest

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
from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable, EventSink
from ometer_tui.core.bench.shards import (
    MergedRunner,
    Runner,
    WorkerFailed,
    endpoint_workers,
    in_loop_shard_factory,
    worker_count,
)
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.worker_args import describe

FAST, THINK = ModelInfo(name="demo-fast:1b"), ModelInfo(name="demo-think:7b")


def part(name: str, url: str, api: ApiFlavour, **changes: object) -> BenchmarkPlan:
    fields: dict[str, object] = {
        "endpoint": Endpoint(name=name, url=url, api=api, simulated=True),
        "models": (FAST,),
        "prompts": ("Name a colour.", "Name a fruit."),
        "passes": 2,
        "warmup": 1,
        "concurrency": 2,
        "params": GenerationParams(max_tokens=4, temperature=0.0, seed=1),
        **changes,
    }
    return BenchmarkPlan(**fields)  # type: ignore[arg-type]


def two_endpoints(demo: DemoServerThread, *, parallel: bool, **changes: object) -> BenchmarkPlan:
    """``left`` (OpenAI API, two models) and ``right`` (Ollama API, one) on the demo."""
    left = part(
        "left", demo.url, ApiFlavour.OPENAI, models=(FAST, THINK), parallel_models=2, **changes
    )
    right = part("right", demo.url, ApiFlavour.OLLAMA, **changes)
    return combine_plans([left, right], parallel=parallel)


class Recording:
    """The in-loop shard factory, keeping (endpoint, worker, workers) of every shard."""

    def __init__(self) -> None:
        self.inner = in_loop_shard_factory()
        self.made: list[tuple[str, int, int]] = []

    def __call__(self, plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        self.made.append((plan.endpoint.name, worker, workers))
        return self.inner(plan, worker, workers, sink)


async def run(
    plan: BenchmarkPlan, workers: int, factory: Recording | None = None
) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    if workers == 1:
        return await BenchmarkRunner(plan, events.append).run(), events
    runner = MergedRunner(
        plan, events.append, workers=workers, shard_factory=factory or Recording()
    )
    return await runner.run(), events


def rows(result: BenchmarkResult) -> dict[str, tuple[object, ...]]:
    """Per row: its endpoint, phase, the (pass, prompt) of each measured run and the
    summary's counts."""
    out: dict[str, tuple[object, ...]] = {}
    for key, mr in result.models.items():
        s = mr.summary
        assert s is not None
        work = Counter((r.pass_index, r.prompt_index) for r in mr.records if not r.warmup)
        out[key] = (mr.endpoint, mr.phase, work, s.runs, s.ok, s.output_tokens, s.prompt_tokens)
    return out


def assert_tagged_one_engine_stream(events: list[BenchmarkEvent], result: BenchmarkResult) -> None:
    assert isinstance(events[0], BenchmarkStarted) and isinstance(events[-1], BenchmarkFinished)
    assert sum(isinstance(e, BenchmarkStarted | BenchmarkFinished) for e in events) == 2
    tagged = [e for e in events if isinstance(e, RunFinished | ModelPhaseChanged | ModelFinished)]
    assert {e.endpoint for e in tagged} == {"left", "right"}
    finished = Counter((e.endpoint, e.model) for e in events if isinstance(e, ModelFinished))
    assert finished == Counter((mr.endpoint, mr.info.name) for mr in result.models.values())
    for mr in result.models.values():
        done = [
            e.model_done
            for e in events
            if isinstance(e, RunFinished)
            and (e.endpoint, e.record.model) == (mr.endpoint, mr.info.name)
            and not e.record.warmup
        ]
        assert done == list(range(1, len(done) + 1))  # counted across the workers
    fold = ResultFold(result.plan)  # the stream folds into the runner's result
    fold.apply(events)
    for key, mr in result.models.items():
        assert fold.result.models[key].phase is mr.phase
        assert Counter(id(r) for r in fold.result.models[key].records) == Counter(
            id(r) for r in mr.records
        )


@pytest.mark.parametrize("parallel", [False, True], ids=["one-after-the-other", "at-once"])
async def test_two_endpoints_on_2_workers_are_one_engines_result(
    demo: DemoServerThread, parallel: bool
) -> None:
    plan = two_endpoints(demo, parallel=parallel)
    one, one_events = await run(plan, 1)
    factory = Recording()
    merged, events = await run(plan, 4 if parallel else 2, factory)
    assert rows(merged) == rows(one)
    assert all(mr.phase is ModelPhase.DONE for mr in merged.models.values())
    assert set(merged.servers) == {"left", "right"} == set(one.servers)
    assert merged.server is not None and merged.server == merged.servers["left"]
    assert one.warmup_requests == 3 and merged.warmup_requests == 3 * 2  # each worker warms
    started, ref = events[0], one_events[0]
    assert isinstance(started, BenchmarkStarted) and isinstance(ref, BenchmarkStarted)
    assert (started.models, started.endpoints) == (ref.models, ref.endpoints)
    assert started.endpoints == ("left", "left", "right")
    assert started.total_runs == 12 + 6 and ref.total_runs == 12 + 3
    assert_tagged_one_engine_stream(events, merged)
    assert not merged.cancelled
    # worker numbers never shared by two workers at once; one after the other, the next
    # endpoint's set takes the numbers over
    if parallel:  # --workers 4 shared by two endpoints: two each, four at once
        assert sorted(factory.made) == [
            ("left", 0, 4), ("left", 1, 4), ("right", 2, 4), ("right", 3, 4)
        ]  # fmt: skip
    else:
        assert factory.made == [("left", 0, 2), ("left", 1, 2), ("right", 0, 2), ("right", 1, 2)]


async def test_one_after_the_other_waits_for_every_worker_of_the_previous_endpoint(
    demo: DemoServerThread,
) -> None:
    plan = two_endpoints(demo, parallel=False, passes=3)
    merged, events = await run(plan, 2)
    left = [r for key, mr in merged.models.items() if mr.endpoint == "left" for r in mr.records]
    right = [r for mr in merged.models.values() if mr.endpoint == "right" for r in mr.records]
    assert left and right
    # one time origin: the right endpoint's first send after the left one's last answer
    assert min(r.started_at_s for r in right) >= max(r.finished_at_s for r in left)
    last_left = max(
        i for i, e in enumerate(events) if isinstance(e, RunFinished) and e.endpoint == "left"
    )
    first_right = min(
        i
        for i, e in enumerate(events)
        if isinstance(e, RunFinished | ModelPhaseChanged) and e.endpoint == "right"
    )
    assert last_left < first_right


async def test_an_unreachable_endpoint_stops_it_before_any_run(demo: DemoServerThread) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    left = part("left", demo.url, ApiFlavour.OPENAI)
    gone = part("gone", f"http://127.0.0.1:{port}", ApiFlavour.OPENAI)
    factory = Recording()
    events: list[BenchmarkEvent] = []
    runner = MergedRunner(
        combine_plans([left, gone]), events.append, workers=2, shard_factory=factory
    )
    with pytest.raises(EndpointUnreachable) as caught:
        await runner.run()
    assert caught.value.endpoint == "gone"
    assert factory.made == [] and events == []  # no worker made, nothing said
    assert all(not mr.records for mr in runner.result.models.values())


@pytest.mark.parametrize("parallel", [False, True], ids=["one-after-the-other", "at-once"])
async def test_cancel_reaches_every_worker_of_every_endpoint(
    demo: DemoServerThread, parallel: bool
) -> None:
    load = LoadSpec(stop=StopConditions(duration_s=30.0))
    plan = two_endpoints(demo, parallel=parallel, load=load, warmup=0, concurrency=2)
    events: list[BenchmarkEvent] = []
    factory = Recording()
    runner = MergedRunner(plan, events.append, workers=4, shard_factory=factory)

    def watch(event: BenchmarkEvent) -> None:
        events.append(event)
        if isinstance(event, RunFinished) and event.model_done >= 4:
            runner.cancel()

    runner._emit = watch  # cancel from inside the stream, as a consumer would
    result = await asyncio.wait_for(runner.run(), 15)
    assert result.cancelled
    assert isinstance(events[-1], BenchmarkFinished) and events[-1].cancelled
    finished = [e for e in events if isinstance(e, ModelFinished)]
    assert sorted((e.endpoint or "", e.model) for e in finished) == sorted(
        (mr.endpoint or "", mr.info.name) for mr in result.models.values()
    )
    assert all(e.phase is ModelPhase.CANCELLED for e in finished)
    right = [r for mr in result.models.values() if mr.endpoint == "right" for r in mr.records]
    if parallel:  # every endpoint's workers ran, and every one stopped
        assert {name for name, _, _ in factory.made} == {"left", "right"}
    else:  # the second endpoint never started
        assert {name for name, _, _ in factory.made} == {"left"} and not right


async def test_a_failed_worker_is_named_with_its_endpoint(demo: DemoServerThread) -> None:
    inner = in_loop_shard_factory()

    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        if plan.endpoint.name == "right":
            raise OSError("cannot start a process")
        return inner(plan, worker, workers, sink)

    plan = two_endpoints(demo, parallel=False, warmup=0)
    runner = MergedRunner(plan, lambda e: None, workers=2, shard_factory=make)
    with pytest.raises(WorkerFailed, match=r"worker 1 \(right\) failed: OSError: cannot"):
        await runner.run()
    kept = [mr for mr in runner.result.models.values() if mr.endpoint == "left"]
    assert all(mr.phase is ModelPhase.DONE and len(mr.records) == 4 for mr in kept)
    assert runner.result.cancelled


def test_how_many_workers_each_endpoint_gets() -> None:
    url = "http://127.0.0.1:9"
    a = part("a", url, ApiFlavour.OPENAI, concurrency=4, passes=4)
    b = part("b", url, ApiFlavour.OPENAI, concurrency=1)
    after, at_once = combine_plans([a, b]), combine_plans([a, b], parallel=True)
    assert endpoint_workers(after, 3) == (3, 1)  # N each, no more than its streams
    assert worker_count(after, 3) == 3  # at a time
    assert endpoint_workers(at_once, 4) == (3, 1)  # N shared, as its streams allow
    assert endpoint_workers(at_once, 2) == (1, 1)
    assert endpoint_workers(at_once, 1) == (1, 1)  # at least one each
    assert endpoint_workers(replace(at_once, endpoint_plans=(a, a)), 5) == (3, 2)
    assert worker_count(at_once, 4) == 4
    assert describe(after, 3) == "ometer-tui: one endpoint after the other: a 3 workers, b 1 worker"
    assert describe(at_once, 4) == (
        "ometer-tui: the endpoints at the same time on 4 workers: a 3 workers, b 1 worker"
    )
    both_a = combine_plans([a, replace(a, endpoint=replace(a.endpoint, name="c"))])
    assert describe(both_a, 2) == "ometer-tui: one endpoint after the other, each on 2 workers"
