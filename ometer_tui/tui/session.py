"""The benchmark the screens show: running or finished, observed by several screens.

A :class:`BenchmarkSession` is owned above the screens (the app creates it and keeps
it) and handed down to the results, detail, debug log and export screens. It holds the
live result (folded by the core's :class:`~ometer_tui.core.bench.fold.ResultFold`), the
exchanges for the debug log, whether it runs, and the way to cancel it. Screens observe
it through its :attr:`BenchmarkSession.changed` signal; none of them reads another
screen's attributes or polls.

The engine runs in a process of its own, awaited by a thread worker on a loop of its
own (``bench_bridge``; ``OMETER_TUI_ENGINE=thread`` runs it on that loop); its events
are drained and folded a few times a second on the UI's loop, and one
:class:`SessionChanged` is published per batch that changed something. Server
telemetry (when the session was given a ``telemetry`` factory) reaches it the same way:
at most one snapshot per drain, the latest (``telemetry``), and once the run is over a
final one with peaks and means built from the result's recording.

Sweeps (a :class:`~ometer_tui.core.bench.sweep_form.StepsRequest` whose ``series`` is
true: a sweep, the SLO search or repeats): a ``SweepRunner`` runs the plan as steps;
each ``StepStarted`` and ``StepFinished`` is kept (``step_now``; ``step_points``: model
-> point per finished step, for the sweep chart; ``finished_steps``, for the live step
table, with the last step's ``step_verdict``) and published as ``steps``. A request
with SLOs alone is a plain run: its SLOs are :attr:`BenchmarkSession.plain_slo`, which
the results apply to each row's requests; when it ends, the result keeps them as the
one step headless makes of such a run (``sweep.single_run_record``), so the history and
the exports have the SLOs it was judged by, and a loaded one shows its SLO rows again.

Trends: once a result is complete (finished, cancelled, or loaded from the history) and
the history is on, each row's baseline is looked up once, in a thread
(:func:`~ometer_tui.core.trends.find_trends`), and published as ``trends``.

Workers: every engine worker's load reports (``WorkerLoad``) are kept in ``workers``, a
core :class:`~ometer_tui.core.bench.worker_view.WorkerBoard` (latest per worker, stale
ones, the warning), stamped with the session's ``clock``; published as ``workers``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.dom import DOMNode
from textual.signal import Signal
from textual.timer import Timer

from ometer_tui.core.bench.events import EngineNotice, WorkerLoad
from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.steps import (
    StepFinished,
    StepPoint,
    StepResult,
    StepStarted,
    SweepRecord,
)
from ometer_tui.core.bench.worker_view import WorkerBoard
from ometer_tui.core.history import SaveOutcome, save_result
from ometer_tui.core.telemetry.live import TelemetrySnapshot, snapshot
from ometer_tui.core.trends import Trend, find_trends
from ometer_tui.tui.bench_bridge import (
    DRAIN_HZ,
    BenchmarkBridge,
    RunnerFactory,
    TelemetryFactory,
    default_runner_factory,
    steps_runner_factory,
)

if TYPE_CHECKING:
    from ometer_tui.core.bench.sweep_form import StepsRequest


@dataclass(frozen=True, slots=True)
class SessionChanged:
    """What changed in the session: rows of ``models``, the header, new exchanges,
    server ``telemetry``, the ``trends`` against the history, the ``workers``' load
    reports; a fresh start
    (``restarted``: everything shown is stale) or the end (``finished``)."""

    models: frozenset[str] = frozenset()
    header: bool = False
    exchanges: int = 0
    restarted: bool = False
    finished: bool = False
    telemetry: bool = False
    trends: bool = False
    steps: bool = False
    workers: bool = False
    #: lines about how the benchmark is run that came with this change (each text once
    #: per run): the workers chosen, a calibration, where Ray placed its workers
    notices: tuple[EngineNotice, ...] = ()


class BenchmarkSession:
    """One plan's benchmark: start, cancel, re-run; the result as it stands.

    ``owner``: the node whose timers and workers run it (the app); its signal
    ``changed`` is published on the owner's loop.
    """

    def __init__(
        self,
        owner: DOMNode,
        plan: BenchmarkPlan,
        *,
        runner_factory: RunnerFactory = default_runner_factory,
        telemetry: TelemetryFactory | None = None,
        history: Path | None = None,
        steps: StepsRequest | None = None,
    ) -> None:
        """``history``: the database each measured result is saved to when it ends
        (``None``: history is off); ``steps``: run the plan as a series of steps."""
        self.owner = owner
        self.history = history
        #: the result's id in the history (saved, or loaded from it)
        self.history_id: int | None = None
        #: why the result was not saved (``None``: saved, saving, or history off)
        self.history_reason: str | None = None
        self.saving = False
        self.plan = plan
        self.runner_factory = runner_factory
        self.telemetry_factory = telemetry
        #: server telemetry as it stands (``None``: off, or nothing sampled yet)
        self.telemetry: TelemetrySnapshot | None = None
        #: per row key, the change against the latest comparable saved result
        self.trends: dict[str, Trend] = {}
        self.fold = ResultFold(plan)
        self.steps = steps
        #: the step running (``None``: none, or not a series of steps)
        self.step_now: StepStarted | None = None
        #: each finished step's points (model -> point), in the order they finished
        self.step_points: list[dict[str, StepPoint]] = []
        #: the monotonic clock the workers' reports are stamped and judged stale with
        self.clock: Callable[[], float] = time.monotonic
        #: the engine workers' latest load reports (empty: none came, or a loaded result)
        self.workers = WorkerBoard(ray=plan.ray_address is not None)
        #: the finished steps themselves, and the last one's verdict (a probe's, or why
        #: the sweep stops there)
        self.finished_steps: list[StepResult] = []
        self.step_verdict: str | None = None
        #: the engine's notices of this run, each text once (``EngineNotice``)
        self.notices: list[EngineNotice] = []
        self.changed: Signal[SessionChanged] = Signal(owner, "benchmark-session")
        self._bridge: BenchmarkBridge | None = None
        self._timer: Timer | None = None
        self._started_mono: float | None = None
        self._elapsed_s: float | None = None
        #: where the current result was last exported (``None``: not since it finished)
        self.exported_to: Path | None = None
        #: the user said the current result may go (asked once, not again on quit)
        self.discarded = False

    @classmethod
    def of_result(
        cls,
        owner: DOMNode,
        result: BenchmarkResult,
        *,
        history: Path | None = None,
        history_id: int | None = None,
    ) -> BenchmarkSession:
        """A session showing a finished (or loaded) result; nothing runs until started.
        ``history_id``: the result was loaded from the history (it is kept there)."""
        session = cls(owner, result.plan, history=history)
        session.fold = ResultFold.of_result(result)
        session.telemetry = _final_telemetry(result)
        session.history_id = history_id
        if result.sweep is not None:  # a saved sweep: its steps' points for the chart
            session.step_points = [step.points() for step in result.sweep.steps]
        session._look_up_trends()
        return session

    @classmethod
    def started(
        cls,
        owner: DOMNode,
        plan: BenchmarkPlan,
        *,
        runner_factory: RunnerFactory = default_runner_factory,
        telemetry: TelemetryFactory | None = None,
    ) -> BenchmarkSession:
        session = cls(owner, plan, runner_factory=runner_factory, telemetry=telemetry)
        session.start()
        return session

    # ------------------------------------------------------------------- queries

    @property
    def result(self) -> BenchmarkResult:
        return self.fold.result

    @property
    def series(self) -> bool:
        """The plan runs as a series of steps (a sweep, the SLO search or repeats)."""
        return self.steps is not None and self.steps.series

    @property
    def plain_slo(self) -> SloTargets:
        """The SLOs of a plain run (empty: none, or a series: its steps judge them); a
        loaded result's, when it was a single run saved with its SLOs."""
        if self.steps is None:
            record = self.result.sweep
            return record.slo if record is not None and record.single_run else SloTargets()
        if self.steps.series:
            return SloTargets()
        return self.steps.slo

    def live_record(self) -> SweepRecord | None:
        """A running series' steps so far (``None``: not a running series)."""
        if self.steps is None or not self.steps.series or not self.running:
            return None
        return self.steps.live_record(self.plan, self.finished_steps)

    @property
    def running(self) -> bool:
        return self._bridge is not None and self._timer is not None

    @property
    def stopping(self) -> bool:
        """A cancel was asked and the engine has not returned yet."""
        return self.running and self._bridge is not None and self._bridge.cancel_requested

    @property
    def error(self) -> str | None:
        return self.fold.error

    @property
    def elapsed_s(self) -> float | None:
        if self._elapsed_s is not None:
            return self._elapsed_s
        if self._started_mono is not None:
            return time.monotonic() - self._started_mono
        return None

    @property
    def unsaved(self) -> bool:
        """A finished result with runs in it that was neither exported nor saved in the
        history (or is still being saved): leaving it loses it."""
        if self.running or self.exported_to is not None or self.discarded:
            return False
        if self.history_id is not None:
            return False
        return self.measured

    @property
    def measured(self) -> bool:
        """At least one run (not a warm-up) was measured."""
        return any(not r.warmup for m in self.result.models.values() for r in m.records)

    def kept_note(self) -> str:
        """Why an unexported result is not kept in the history either (for a question
        that asks to discard it): ", nor saved to the history (<reason>)" or ""."""
        if self.saving:
            return " and are still being saved to the history"
        if self.history_reason is not None:
            return f", nor saved to the history ({self.history_reason})"
        if self.history is None:
            return " (the history is off)"
        return ""

    # ------------------------------------------------------------------- actions

    def start(self) -> None:
        """Start (or restart) the plan with a fresh runner and an empty result."""
        if self.running:
            return
        self.fold = ResultFold(self.plan)
        self.exported_to = None
        self.discarded = False
        self.telemetry = None
        self.trends = {}
        self.history_id = None
        self.history_reason = None
        self._started_mono = time.monotonic()
        self._elapsed_s = None
        self.step_now, self.step_points = None, []
        self.workers = WorkerBoard(ray=self.plan.ray_address is not None)
        self.finished_steps, self.step_verdict = [], None
        self.notices = []
        factory = self.runner_factory
        if self.steps is not None and self.steps.series:
            factory = steps_runner_factory(self.steps, factory)
        bridge = BenchmarkBridge(self.plan, runner_factory=factory,
                                 telemetry=self.telemetry_factory)  # fmt: skip
        self._bridge = bridge
        self._timer = self.owner.set_interval(1.0 / DRAIN_HZ, self._drain)
        self.owner.run_worker(
            bridge.run_to_end, thread=True, group="benchmark", exit_on_error=False,
            name="benchmark",
        )  # fmt: skip
        self.changed.publish(SessionChanged(restarted=True, header=True))

    def cancel(self) -> None:
        """Stop the benchmark (thread-safe); finished runs are kept."""
        if self._bridge is not None and self.running:
            self._bridge.cancel()
            self.changed.publish(SessionChanged(header=True))

    def mark_exported(self, path: Path) -> None:
        self.exported_to = path
        self.changed.publish(SessionChanged(header=True))

    def discard(self) -> None:
        """The user agreed to lose the current result (nothing asks again for it)."""
        self.discarded = True

    def close(self) -> None:
        """The owner goes away: cancel so the engine's thread never outlives it."""
        if self._bridge is not None and self.running:
            self._bridge.cancel()

    # ------------------------------------------------------------------ internals

    def _drain(self) -> None:
        bridge = self._bridge
        if bridge is None:
            return
        finished = bridge.finished  # read before draining: no event can follow it
        events = bridge.drain()
        steps = self._take_steps(events)
        loads = self._take_loads(events)
        notices = self._take_notices(events)
        change = self.fold.apply(events)  # (the fold passes over the step events)
        if finished:
            self._finish(bridge, change.exchanges, notices)
            return
        telemetry = bridge.take_telemetry()
        if telemetry is not None:
            self.telemetry = telemetry
        if not change.empty or telemetry is not None or steps or loads or notices:
            self.changed.publish(
                SessionChanged(
                    frozenset(change.models),
                    change.header or steps,
                    change.exchanges,
                    telemetry=telemetry is not None,
                    steps=steps,
                    workers=loads,
                    notices=notices,
                )
            )

    def _take_steps(self, events: tuple[object, ...]) -> bool:
        """Keep the step events of a batch; whether there were any."""
        seen = False
        for event in events:
            if isinstance(event, StepStarted):
                self.step_now, seen = event, True
            elif isinstance(event, StepFinished):
                self.step_points.append(dict(event.points))
                self.finished_steps.append(event.step)
                self.step_verdict, seen = event.verdict, True
        return seen

    def _take_loads(self, events: tuple[object, ...]) -> bool:
        """Keep the workers' load reports of a batch; whether there were any."""
        loads = [event for event in events if isinstance(event, WorkerLoad)]
        now = self.clock()
        for event in loads:
            self.workers.apply(event, now)
        return bool(loads)

    def _take_notices(self, events: tuple[object, ...]) -> tuple[EngineNotice, ...]:
        """The engine's notices of a batch not seen in this run yet (a series of steps
        chooses its workers per step: the same line is told once)."""
        seen = {notice.text for notice in self.notices}
        new: list[EngineNotice] = []
        for event in events:
            if isinstance(event, EngineNotice) and event.text not in seen:
                seen.add(event.text)
                new.append(event)
        self.notices += new
        return tuple(new)

    def _finish(
        self, bridge: BenchmarkBridge, exchanges: int, notices: tuple[EngineNotice, ...] = ()
    ) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None
        if self._started_mono is not None:
            self._elapsed_s = time.monotonic() - self._started_mono
        self.fold.finish(
            bridge.outcome, cancel_requested=bridge.cancel_requested, error=bridge.error
        )
        self.step_now = None
        if self.steps is not None and not self.steps.series and self.result.sweep is None:
            from ometer_tui.core.bench.sweep import single_run_record  # loaded by results

            # SLOs alone: saved and exported as the one step headless makes of them
            self.result.sweep = single_run_record(self.result, self.steps.slo)
        self.telemetry = _final_telemetry(self.result) or bridge.take_telemetry()
        self._look_up_trends()
        if self.history is not None and self.measured:
            self.saving = True
            self.owner.run_worker(
                self._save(self.result, self.history), group="history", exit_on_error=False,
                name="history-save",
            )  # fmt: skip
        self.changed.publish(
            SessionChanged(
                frozenset(self.result.models),
                True,
                exchanges,
                finished=True,
                telemetry=True,
                steps=self.series,
                workers=not self.workers.empty,
                notices=notices,
            )
        )

    def _look_up_trends(self) -> None:
        """Find each row's baseline in the history, once, in a thread (nothing when the
        history is off or nothing was measured)."""
        if self.history is not None and self.measured:
            self.owner.run_worker(
                self._trends_of(self.result, self.history), group="history-trends",
                exit_on_error=False, name="history-trends",
            )  # fmt: skip

    async def _trends_of(self, result: BenchmarkResult, path: Path) -> None:
        trends = await asyncio.to_thread(find_trends, path, result)
        if result is self.result and trends:  # (a re-run meanwhile: not shown)
            self.trends = trends
            self.changed.publish(SessionChanged(trends=True))

    async def _save(self, result: BenchmarkResult, path: Path) -> None:
        """Save ``result`` in a thread (SQLite may wait on a lock; the UI never does),
        then say where, or why not."""
        outcome: SaveOutcome = await asyncio.to_thread(save_result, result, path)
        self.saving = False
        if result is not self.result:  # re-run meanwhile: this result is not shown
            return
        self.history_id = outcome.id
        self.history_reason = outcome.reason
        if outcome.saved:
            self.owner.app.notify(f"Saved to the history as #{outcome.id} ({outcome.path}).",
                                  title="History", markup=False)  # fmt: skip
        else:
            self.owner.app.notify(
                f"Not saved to the history: {outcome.reason}\nExport it with e to keep it.",
                title="History", severity="warning", timeout=15, markup=False,
            )  # fmt: skip
        self.changed.publish(SessionChanged(header=True))


def _final_telemetry(result: BenchmarkResult) -> TelemetrySnapshot | None:
    """Peaks and means of the run's recording (the sampler has stopped writing to it)."""
    return snapshot(result.telemetry, final=True) if result.telemetry is not None else None
