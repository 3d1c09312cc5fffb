"""The benchmark session: started, observed through its signal, cancelled, finished."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget

from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkStarted,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.tui.session import BenchmarkSession, SessionChanged

PLAN = BenchmarkPlan(
    endpoint=Endpoint(name="e", url="http://127.0.0.1:9"),
    models=(ModelInfo("a"), ModelInfo("b")),
    passes=2,
    warmup=0,
)


class StepRunner:
    """Emits one model's runs, then waits to be cancelled (like a slow second model)."""

    def __init__(self, on_event: Callable[[BenchmarkEvent], None]) -> None:
        self.on_event = on_event
        self.stop = threading.Event()

    async def run(self) -> BenchmarkResult:
        self.on_event(BenchmarkStarted(models=PLAN.models, total_runs=4, warmup_requests=0))
        self.on_event(ModelPhaseChanged("a", ModelPhase.RUNNING))
        for i in (1, 2):
            rec = RunRecord(
                model="a",
                pass_index=i,
                prompt_index=0,
                warmup=False,
                ok=True,
                ttft_s=0.1,
                started_at_s=float(i),
                finished_at_s=i + 0.5,
            )
            self.on_event(RunFinished(rec, i, 2))
        while not self.stop.is_set():  # noqa: ASYNC110 - set from another thread
            await asyncio.sleep(0.01)
        result = empty_result(PLAN, datetime.now(UTC))  # as the engine's: every model
        result.models["a"].phase = ModelPhase.RUNNING
        result.cancelled = True
        return result

    def cancel(self) -> None:
        self.stop.set()


class Observer(Widget):
    def __init__(self, session: BenchmarkSession) -> None:
        super().__init__()
        self.session = session
        self.changes: list[SessionChanged] = []

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self.changes.append)


async def until(pilot: Pilot[None], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 20
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def test_a_session_runs_publishes_changes_and_cancels() -> None:
    runners: list[StepRunner] = []

    def factory(plan: BenchmarkPlan, on_event: Any, log: bool) -> StepRunner:
        runners.append(StepRunner(on_event))
        return runners[-1]

    class Host(App[None]):
        def compose(self) -> Any:
            self.session = BenchmarkSession(self, PLAN, runner_factory=factory)
            yield Observer(self.session)

    app = Host()
    try:
        await run(app, runners)
    finally:
        for runner in runners:  # never leave an engine thread behind a failed test
            runner.cancel()


async def run(app: Any, runners: list[StepRunner]) -> None:
    async with app.run_test() as pilot:
        observer = app.query_one(Observer)
        session = app.session
        assert not session.running and not session.unsaved
        session.start()
        assert session.running
        await until(pilot, lambda: session.fold.requests_done == 2, "two runs")
        await pilot.pause()
        changes = observer.changes
        assert changes[0].restarted
        assert any("a" in c.models for c in changes)
        assert session.result.models["a"].phase is ModelPhase.RUNNING
        assert not session.unsaved  # running: nothing to lose yet
        session.cancel()
        assert session.stopping
        await until(pilot, lambda: not session.running, "the end")
        await pilot.pause()
        assert observer.changes[-1].finished
        # the engine's own result replaced the mirror; the unfinished models are cancelled
        assert session.result.cancelled
        assert {m.phase for m in session.result.models.values()} == {ModelPhase.CANCELLED}
        # a re-run starts from an empty result
        session.start()
        assert session.fold.requests_done == 0 and session.running
        session.cancel()  # maybe before its runner exists: the bridge passes it on
        await until(pilot, lambda: not session.running, "the second end")
