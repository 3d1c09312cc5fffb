"""The bridge between the engine's thread and the UI: the interpreter's switch interval."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.tui import bench_bridge
from ometer_tui.tui.bench_bridge import ENGINE_SWITCH_INTERVAL_S, BenchmarkBridge


class SeenInterval:
    """A runner that notes the switch interval while it runs, then waits to be let go."""

    def __init__(self, release: threading.Event | None = None) -> None:
        self.seen: float | None = None
        self.release = release

    async def run(self) -> BenchmarkResult:
        self.seen = sys.getswitchinterval()
        if self.release is not None:
            await asyncio.to_thread(self.release.wait, 10)
        return cast(BenchmarkResult, None)

    def cancel(self) -> None:
        pass


def factory_for(runner: SeenInterval) -> Callable[..., Any]:
    def make(_plan: BenchmarkPlan, _on: Callable[[BenchmarkEvent], None], _log: bool) -> Any:
        return runner

    return make


@pytest.fixture
def default_interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def test_the_switch_interval_is_short_while_a_benchmark_runs(default_interval: float) -> None:
    runner = SeenInterval()
    plan = cast(BenchmarkPlan, None)
    BenchmarkBridge(plan, runner_factory=factory_for(runner)).run_blocking()
    assert runner.seen == pytest.approx(ENGINE_SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_it_is_restored_only_when_the_last_of_two_benchmarks_ends(
    default_interval: float,
) -> None:
    release_first, release_second = threading.Event(), threading.Event()
    first, second = SeenInterval(release_first), SeenInterval(release_second)
    plan = cast(BenchmarkPlan, None)
    threads = [
        threading.Thread(target=BenchmarkBridge(plan, runner_factory=factory_for(r)).run_blocking)
        for r in (first, second)
    ]
    for t in threads:
        t.start()
    while first.seen is None or second.seen is None:
        threading.Event().wait(0.01)
    release_first.set()
    threads[0].join(10)
    assert sys.getswitchinterval() == pytest.approx(ENGINE_SWITCH_INTERVAL_S)
    release_second.set()
    threads[1].join(10)
    assert sys.getswitchinterval() == pytest.approx(default_interval)
    assert bench_bridge._switch_users == 0


class Failing:
    async def run(self) -> BenchmarkResult:
        raise ConnectionError("refused")

    def cancel(self) -> None:
        pass


def test_run_to_end_keeps_the_outcome_before_it_says_finished() -> None:
    plan = cast(BenchmarkPlan, None)
    ok = BenchmarkBridge(plan, runner_factory=factory_for(SeenInterval()))
    ok.run_to_end()
    assert ok.finished and ok.error is None
    failing = BenchmarkBridge(plan, runner_factory=lambda *_: Failing())
    failing.run_to_end()  # never raises: the UI's timer reads the error
    assert failing.finished and failing.outcome is None
    assert failing.error == "ConnectionError: refused"
