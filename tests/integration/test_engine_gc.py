"""The engine's collector policy (core/bench/gc_policy.py): while a benchmark runs, what
was alive at its start is frozen, full collections are held off and generation-1 ones
come sooner; all of it is put back when the run ends, fails or is cancelled."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ometer_tui.core.bench import gc_policy
from ometer_tui.core.bench.events import BenchmarkEvent, RunFinished
from ometer_tui.core.bench.gc_policy import RUN_GEN1_THRESHOLD, RUN_GEN2_THRESHOLD, engine_gc
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread

State = tuple[tuple[int, int, int], int]


def state() -> State:
    threshold = gc.get_threshold()
    return (threshold[0], threshold[1], threshold[2]), gc.get_freeze_count()


@pytest.fixture(autouse=True)
def _python_defaults() -> Iterator[None]:
    """Each test starts from Python's own settings and leaves them so."""
    saved = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def during_run(inside: State) -> bool:
    (t0, t1, t2), frozen = inside
    return t0 == 700 and t1 == RUN_GEN1_THRESHOLD and t2 == RUN_GEN2_THRESHOLD and frozen > 0


def test_the_policy_holds_inside_and_is_put_back_after() -> None:
    before = state()
    with engine_gc():
        assert during_run(state())
    assert state() == before


def test_the_policy_is_put_back_after_an_error() -> None:
    before = state()
    with pytest.raises(RuntimeError), engine_gc():
        raise RuntimeError("boom")
    assert state() == before


def test_nested_runs_share_one_policy_the_outermost_restores() -> None:
    before = state()
    with engine_gc():
        with engine_gc():
            assert during_run(state())
        assert during_run(state())  # the inner run's end does not undo the outer's
    assert state() == before


def test_runs_in_two_threads_share_one_policy() -> None:
    """Engines in threads of one process: the last to finish puts the collector back."""
    import threading

    before = state()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[State] = []

    def first() -> None:
        with engine_gc():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with engine_gc():
            second_in.set()
            first_out.wait(5)
            seen.append(state())  # the first run has ended; this one still holds

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 1 and during_run(seen[0])
    assert state() == before


def test_disabled_leaves_the_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_policy, "ENABLED", False)
    before = state()
    with engine_gc():
        assert state() == before


def plan(url: str, requests: int) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=url, api=ApiFlavour.OPENAI, simulated=True),
        models=(ModelInfo(name="demo-fast:1b"),),
        warmup=0,
        params=GenerationParams(max_tokens=4),
        retry=RetryPolicy(max_retries=0),
        load=LoadSpec(
            arrival=ArrivalSpec(200.0, ArrivalKind.CONSTANT),
            stop=StopConditions(max_requests=requests),
            seed=1,
        ),
    )


async def test_a_benchmark_runs_under_the_policy_and_restores_it(demo: DemoServerThread) -> None:
    seen: list[State] = []

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            seen.append(state())

    before = state()
    result = await BenchmarkRunner(plan(demo.url, 5), on_event).run()
    assert len(result.models["demo-fast:1b"].records) == 5
    assert len(seen) == 5 and all(during_run(s) for s in seen)
    assert state() == before


async def test_a_cancelled_benchmark_restores_the_policy(demo: DemoServerThread) -> None:
    seen: list[State] = []

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            seen.append(state())
            runner.cancel()

    before = state()
    runner = BenchmarkRunner(plan(demo.url, 1000), on_event)
    result = await runner.run()
    assert result.cancelled and seen and during_run(seen[0])
    assert state() == before


async def test_a_failed_benchmark_restores_the_policy() -> None:
    before = state()
    with pytest.raises(EndpointUnreachable):
        await BenchmarkRunner(plan("http://127.0.0.1:9", 5), lambda e: None).run()
    assert state() == before
