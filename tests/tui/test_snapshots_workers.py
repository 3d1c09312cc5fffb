"""SVG snapshots of the results screen while two engine workers report their load, one
past the lag limit (the workers strip and its warning), at 120x36 and 80x24.

The runs are the hand-built result's, replayed by a fake engine that then waits; the
reports are fixed and the session's clock is a fake one, so nothing measured or timed is
in the picture. Update with ``pytest tests/tui/test_snapshots_workers.py
--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from tests.tui.test_session import until
from tests.tui.test_snapshots import SnapHost, fixed_result
from tests.tui.worker_samples import FakeClock, FeedRunner, factory_into, load

SnapCompare = Callable[..., bool]


class WorkersHost(SnapHost):
    def __init__(self) -> None:
        self.runners: list[FeedRunner] = []
        self.session: BenchmarkSession | None = None
        super().__init__(self._screen)

    def _screen(self, app: object) -> ResultsScreen:
        runs = fixed_result()
        session = BenchmarkSession(self, runs.plan, runner_factory=factory_into(self.runners, runs))
        session.clock = FakeClock()
        session.start()
        self.session = session
        return ResultsScreen(session, show_clock=False)


async def two_workers(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, WorkersHost)
    await until(pilot, lambda: app.runners and app.runners[0].started.is_set(), "the runs")
    reports = (load(0, in_flight=12, lag=0.8, chunks=6210, cpu=91),
               load(1, in_flight=9, lag=7.2, chunks=5480, cpu=99))  # fmt: skip
    for report in reports:
        app.runners[0].emit(report)
    session = app.session
    assert session is not None
    await until(pilot, lambda: session.workers.in_flight(session.clock()) == 21, "the reports")
    await until(pilot, lambda: session.fold.requests_done > 0, "the runs folded")
    await pilot.pause(0.3)


def test_results_with_two_workers_one_overloaded(snap_compare: SnapCompare) -> None:
    app = WorkersHost()
    try:
        assert snap_compare(app, terminal_size=(120, 36), run_before=two_workers)
    finally:
        for runner in app.runners:
            runner.cancel()


def test_results_with_two_workers_80x24(snap_compare: SnapCompare) -> None:
    app = WorkersHost()
    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=two_workers)
    finally:
        for runner in app.runners:
            runner.cancel()
