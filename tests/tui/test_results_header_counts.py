"""The results header counts requests against what was planned for them: a running
series counts the current step's requests against that step's, a run for a duration
(nothing planned to count against) counts them alone, a finished series counts every
step's. It once read "running 43/11" and "done 181/48": every step's requests against
one step's warm-ups."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from textual.app import App

from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted, RunFinished
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.sweep import SweepJob
from ometer_tui.core.bench.sweep_form import StepsRequest
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.results_header import PhraseLine
from tests.tui.test_session import until
from tests.unit.test_fold import rec

PLAN = BenchmarkPlan(
    endpoint=Endpoint(name="e", url="http://127.0.0.1:9", api=ApiFlavour.OLLAMA),
    models=(ModelInfo("a"),),
    passes=2,
    warmup=1,
)


class ForADuration:
    """A step run for a duration: it plans only its warm-up (how many requests it makes
    is not known beforehand), makes ``runs`` requests, then waits to be cancelled."""

    def __init__(self, on_event: Callable[[BenchmarkEvent], None], runs: int) -> None:
        self.on_event, self.runs = on_event, runs
        self.stop = threading.Event()
        self.result = empty_result(PLAN)

    async def run(self) -> BenchmarkResult:
        self.on_event(BenchmarkStarted(models=PLAN.models, total_runs=1, warmup_requests=1))
        for i in range(self.runs):
            self.on_event(RunFinished(rec("a", i), i + 1, 0))
        while not self.stop.is_set():  # noqa: ASYNC110 - set from another thread
            await asyncio.sleep(0.01)
        self.result.cancelled = True
        return self.result

    def cancel(self) -> None:
        self.stop.set()


class Host(App[None]):
    def __init__(self, steps: StepsRequest | None) -> None:
        super().__init__()
        self.steps = steps
        self.runners: list[ForADuration] = []

    def on_mount(self) -> None:
        def make(plan: BenchmarkPlan, on_event: Any, log: bool) -> ForADuration:
            self.runners.append(ForADuration(on_event, runs=3))
            return self.runners[-1]

        self.session = BenchmarkSession(self, PLAN, runner_factory=make, steps=self.steps)
        self.session.start()
        self.push_screen(ResultsScreen(self.session, show_clock=False))


def status(app: App[Any]) -> str:
    return app.screen.query_one("#results-status", PhraseLine).plain


async def test_a_step_for_a_duration_counts_its_requests_alone() -> None:
    app = Host(StepsRequest(SweepJob(repeat=2), SloTargets()))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.session.fold.step_done == 3, "the step's runs")
        await pilot.pause(0.3)
        assert status(app).startswith("running 3 requests in this step · step 1/1 · repeat 1/2")
        assert not app.screen.query_one("#results-progress").display  # no wrong bar
        app.session.cancel()
        app.runners[-1].cancel()
        await until(pilot, lambda: not app.session.running, "the end")
        await pilot.pause()
        assert status(app).startswith("cancelled 3 requests")


async def test_a_plain_run_for_a_duration_counts_its_requests_alone() -> None:
    app = Host(None)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.session.fold.step_done == 3, "the runs")
        await pilot.pause(0.3)
        assert status(app).startswith("running 3 requests · ")
        app.session.cancel()
        await until(pilot, lambda: not app.session.running, "the end")
