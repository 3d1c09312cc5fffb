"""The app runs its benchmarks in an engine process (the bridge's default), reports the
engine's load, and leaves no engine process behind when it quits."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.bench import process_runner
from ometer_tui.core.bench.events import BenchmarkEvent, RunFinished, WorkerLoad
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.process_runner import ProcessRunner
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.sweep import SweepJob
from ometer_tui.core.bench.sweep_form import StepsRequest
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui import bench_bridge
from ometer_tui.tui.bench_bridge import BenchmarkBridge, steps_runner_factory
from tests.tui.conftest import SIZE, AppFactory, Settle


def plan_for(url: str, model: str = "demo-fast:1b", passes: int = 4) -> BenchmarkPlan:
    endpoint = Endpoint(name="demo", url=url, api=ApiFlavour.OLLAMA, simulated=True)
    return BenchmarkPlan(
        endpoint=endpoint, models=(ModelInfo(name=model),), passes=passes, warmup=0,
        concurrency=2, params=GenerationParams(max_tokens=12),
    )  # fmt: skip


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie: nobody reaped it yet


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, list[BenchmarkEvent]]]]:
    """Each runner the app's default factory makes, with the events it emitted."""
    seen: list[tuple[Any, list[BenchmarkEvent]]] = []
    for name in ("process_runner_factory", "thread_runner_factory"):
        original: Callable[..., Any] = getattr(bench_bridge, name)

        def spy(plan: Any, on_event: Any, log: bool, original: Any = original) -> Any:
            events: list[BenchmarkEvent] = []

            def tee(event: BenchmarkEvent) -> None:
                events.append(event)
                on_event(event)

            runner = original(plan, tee, log)
            seen.append((runner, events))
            return runner

        monkeypatch.setattr(bench_bridge, name, spy)
    yield seen
    process_runner.shut_down_idle()


async def wait_until(pilot: Any, done: Callable[[], bool], within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert done()


def wait_gone(pid: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


async def test_the_apps_benchmarks_run_in_an_engine_process_that_quitting_ends(
    make_app: AppFactory,
    demo_config: Path,
    demo_server: DemoServerThread,
    made: list[tuple[Any, list[BenchmarkEvent]]],
    settle: Settle,
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        session = app.start_benchmark(plan_for(demo_server.url))
        await wait_until(pilot, lambda: not session.running)
        await settle(pilot)
        assert session.error is None
        records = session.result.models["demo-fast:1b"].records
        assert len(records) == 4 and all(r.ok for r in records)
        runner, events = made[0]
        assert isinstance(runner, ProcessRunner)
        loads = [e for e in events if isinstance(e, WorkerLoad)]
        assert loads and {e.pid for e in loads} == {runner.pid}
        assert runner.pid != os.getpid()
        assert any(e.chunks_per_s > 0 for e in loads)
        # the next benchmark runs in the same (warm) engine; the app quits mid-run
        session = app.start_benchmark(plan_for(demo_server.url, "demo-slow:70b", passes=40))
        await wait_until(pilot, lambda: len(made) == 2 and any(
            isinstance(e, RunFinished) for e in made[1][1]))  # fmt: skip
        assert session.running and made[1][0].pid == runner.pid
        app.exit()
    assert runner.pid is not None and await asyncio.to_thread(wait_gone, runner.pid)


def test_the_thread_engine_reports_its_load_too(
    demo_server: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(bench_bridge.ENGINE_ENV, "thread")
    bridge = BenchmarkBridge(plan_for(demo_server.url, passes=8))
    result = bridge.run_blocking()
    assert len(result.models["demo-fast:1b"].records) == 8
    loads = [e for e in bridge.drain() if isinstance(e, WorkerLoad)]
    assert loads and {e.pid for e in loads} == {os.getpid()}


def test_a_series_of_steps_runs_each_step_in_the_warm_engine(
    demo_server: DemoServerThread,
) -> None:
    runners: list[ProcessRunner] = []

    def inner(plan: BenchmarkPlan, on_event: Any, log: bool) -> ProcessRunner:
        runner = ProcessRunner(plan, on_event, log_exchanges=log)
        runners.append(runner)
        return runner

    steps = StepsRequest(job=SweepJob(repeat=2), slo=SloTargets())
    bridge = BenchmarkBridge(plan_for(demo_server.url), runner_factory=steps_runner_factory(
        steps, inner))  # fmt: skip
    try:
        result = bridge.run_blocking()
    finally:
        process_runner.shut_down_idle()
    assert result.sweep is not None and len(result.sweep.steps) == 2
    assert len(result.models["demo-fast:1b"].records) == 8
    assert len(runners) == 2 and runners[0].pid == runners[1].pid != os.getpid()
