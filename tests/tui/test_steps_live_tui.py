"""What is left of issue #12 in the dashboard: the SLO search and a sweep's limits in the
run panel's Steps section, the step table growing a row as each step (or probe)
finishes, and SLOs on a plain run (no series: attainment and goodput per row)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Select, Static

from ometer_tui.core.bench.events import BenchmarkEvent, ModelPhase
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.steps import LoadKind
from ometer_tui.core.bench.sweep import SweepJob
from ometer_tui.core.bench.sweep_form import StepsRequest
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.history import HistoryScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.form import FormCheckbox
from ometer_tui.tui.widgets.steps_panel import StepsPanel
from tests.support.figures import same_figures
from tests.tui.picker_helpers import open_picker
from tests.tui.test_sweep_tui import set_fields, with_slo

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]


async def until(pilot: Pilot[None], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


# ------------------------------------------------------------------ the form


async def test_the_slo_search_and_a_sweeps_limits_come_from_the_steps_section(
    make_app: AppFactory, demo_config: Path, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(OmeterApp, "start_benchmark", lambda self, p, **k: asked.append(k))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        # a search: its kind, precision, percentile and step length
        screen.query_one("#search", Select).value = "rate"
        set_fields(screen, slo="ttft:300", precision="0.2", percentile="95", step_duration="2")
        await pilot.press("b")
        await settle(pilot)
        steps = asked[-1]["steps"]
        assert isinstance(steps, StepsRequest) and steps.series
        assert steps.job.find_max is LoadKind.RATE and steps.job.precision == 0.2
        assert steps.slo.percentile == 95 and steps.default_duration_s == 2.0
        # a sweep with its error budget and without early stop
        screen.query_one("#search", Select).value = "none"
        screen.query_one("#early_stop", FormCheckbox).value = False
        set_fields(screen, sweep="concurrency=1,2", precision="", error_budget="0.3")
        await pilot.press("b")
        await settle(pilot)
        sweep = asked[-1]["steps"].job.sweep
        assert sweep.max_error_rate == 0.3 and sweep.early_stop is False
        # a field that does not apply is named and nothing starts
        count = len(asked)
        set_fields(screen, sweep="", error_budget="0.3")
        await pilot.press("b")
        await settle(pilot)
        shown = str(screen.query_one("#plan-errors", Static).render())
        assert "error_budget: applies to sweep" in shown
        assert "early_stop: applies to sweep" in shown
        assert len(asked) == count


# ---------------------------------------------------------- the live step table

PLAN = BenchmarkPlan(
    endpoint=Endpoint(name="e", url="http://127.0.0.1:9", api="openai"),
    models=(ModelInfo("m"),),
    passes=1,
    warmup=0,
)


class ProbeRunner:
    """One step of a fake server whose TTFT is 10 ms per stream: 5 ok requests. A step
    after the first waits for the test's ``gate`` (one release a step)."""

    def __init__(self, plan: BenchmarkPlan, gate: threading.Semaphore, first: bool) -> None:
        self.plan = plan
        self.gate = gate
        self.first = first
        self.cancelled = threading.Event()

    async def run(self) -> BenchmarkResult:
        while not self.first and not self.gate.acquire(blocking=False):
            if self.cancelled.is_set():
                break
            await asyncio.sleep(0.01)
        result = empty_result(self.plan, datetime.now(UTC))
        ttft = 0.010 * self.plan.concurrency
        for i in range(5):
            result.models["m"].records.append(
                RunRecord(model="m", pass_index=1, prompt_index=i, warmup=False, ok=True,
                          ttft_s=ttft, e2e_s=ttft + 0.02, output_tokens=4,
                          started_at_s=i * 0.1, finished_at_s=i * 0.1 + ttft + 0.02)
            )  # fmt: skip
        result.models["m"].phase = ModelPhase.DONE
        result.cancelled = self.cancelled.is_set()
        return result

    def cancel(self) -> None:
        self.cancelled.set()


async def test_the_step_table_grows_a_row_as_each_probe_finishes() -> None:
    gate = threading.Semaphore(0)
    runners: list[ProbeRunner] = []

    def factory(plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log: bool) -> Any:
        runners.append(ProbeRunner(plan, gate, first=not runners))
        return runners[-1]

    # the highest concurrency whose TTFT p90 is within 35 ms: 1, 2 meet, 4 misses, 3 meets
    steps = StepsRequest(SweepJob(find_max=LoadKind.CONCURRENCY), SloTargets((("ttft", 35.0),)))

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            self.session = BenchmarkSession(self, PLAN, runner_factory=factory, steps=steps)
            yield StepsPanel(self.session)

    app = Host()
    try:
        async with app.run_test(size=SIZE) as pilot:
            session, panel = app.session, app.query_one(StepsPanel)
            assert panel.mode is None and not panel.display  # nothing yet: hidden
            session.start()
            for done in (1, 2, 3):  # each probe's row shows before the next one runs
                await until(pilot, lambda d=done: len(panel.rows) == d, f"{done} row(s)")  # type: ignore[misc]
                assert session.running and panel.mode == "live" and panel.display
                gate.release()
            await until(pilot, lambda: not session.running, "the end")
            await pilot.pause()
            rows = panel.rows
            assert panel.mode == "final"
            assert [(r[1], r[-1]) for r in rows] == [
                ("concurrency 1", "meets"), ("concurrency 2", "meets"),
                ("concurrency 4", "misses"), ("concurrency 3", "meets"),
            ]  # fmt: skip
            outcome = str(panel.query_one("#steps-outcome", Static).render())
            assert "max concurrency meeting the SLOs at p90: 3" in outcome, outcome
    finally:
        for runner in runners:
            runner.cancel()
        for _ in range(8):
            gate.release()


# ------------------------------------------------------------ SLOs on a plain run


async def test_a_plain_run_with_settings_slos_is_not_a_series_and_shows_goodput(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    with_slo(demo_config, SloTargets((("ttft", 5000.0),), 95.0))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("slash", *"=demo-fast:1b", "down", "space")
        set_fields(screen, passes="2", warmup="0", max_tokens="4")
        await pilot.press("b")
        await pilot.pause()
        results = app.screen
        assert isinstance(results, ResultsScreen), screen.query_one("#plan-errors").render()
        session = results.session
        assert session.steps is not None and not session.series
        await until(pilot, lambda: not session.running, "the end")
        await settle(pilot)
        assert session.error is None
        assert session.step_points == [] and session.finished_steps == []  # no series
        panel = results.query_one(StepsPanel)
        assert panel.mode == "slo" and panel.display
        title = str(panel.query_one("#steps-title", Static).render())
        assert title == "SLOs: ttft <= 5000 ms at p95"
        [row] = panel.rows
        measured = [r for r in session.result.models["demo-fast:1b"].records if not r.warmup]
        assert row[0] == "demo-fast:1b" and row[1] == f"{len(measured)}/0"
        assert row[2] == "100%" and row[3] == "meets"
        assert float(row[4]) > 0  # goodput: requests meeting the SLOs per second
        # kept with the result as the one step headless makes of SLOs alone...
        record = session.result.sweep
        assert record is not None and record.single_run
        assert record.slo == SloTargets((("ttft", 5000.0),), 95.0)
        [step] = record.steps
        [model] = step.models
        assert model.check is not None and model.check.ok and len(model.records) == len(measured)
        # ...so the history has them: opened again, the same SLO rows under the same title
        await until(pilot, lambda: session.history_id is not None, "the history save")
        shown = panel.rows
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await until(pilot, lambda: history.loaded, "the list")
        history.table.move_to(str(session.history_id))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ResultsScreen), "the opened result")
        await settle(pilot)
        opened = app.screen.query_one(StepsPanel)
        assert opened.mode == "slo" and same_figures(shown, opened.rows)  # (the export rounds)
        assert str(opened.query_one("#steps-title", Static).render()) == title
