"""The results screen's workers strip, fed WorkerLoad events by a fake engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from ometer_tui.core.bench.events import WorkerLoad
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.results_header import PhraseLine
from ometer_tui.tui.widgets.workers_strip import WorkersStrip
from tests.tui.test_session import PLAN, until
from tests.tui.test_snapshots import fixed_result
from tests.tui.worker_samples import FakeClock, FeedRunner, factory_into, load


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.runners: list[FeedRunner] = []
        self.clock = FakeClock()

    def on_mount(self) -> None:
        self.session = BenchmarkSession(self, PLAN, runner_factory=factory_into(self.runners))
        self.session.clock = self.clock
        self.session.start()
        self.push_screen(ResultsScreen(self.session, show_clock=False))


def strip(app: App[Any]) -> WorkersStrip:
    return app.screen.query_one(WorkersStrip)


def status(app: App[Any]) -> str:
    return app.screen.query_one("#results-status", PhraseLine).plain


async def feed(pilot: Pilot[None], app: Host, *events: WorkerLoad) -> None:
    await until(pilot, lambda: app.runners and app.runners[-1].started.is_set(), "the runner")
    for event in events:
        app.runners[-1].emit(event)

    def drained() -> bool:
        rows = app.session.workers.rows()
        return all(e.worker < len(rows) and rows[e.worker].report is e for e in events)

    await until(pilot, drained, "the reports")
    await pilot.pause()


async def run_with(test: Callable[[Pilot[None], Host], Any], size: tuple[int, int]) -> None:
    app = Host()
    try:
        async with app.run_test(size=size) as pilot:
            await test(pilot, app)
    finally:
        for runner in app.runners:
            runner.cancel()


async def test_no_report_no_strip_and_one_worker_in_a_line() -> None:
    async def test(pilot: Pilot[None], app: Host) -> None:
        await until(pilot, lambda: app.runners, "the runner")
        await pilot.pause(0.3)
        assert not strip(app).display  # nothing reported: nothing shown
        assert "in flight" not in status(app)
        await feed(pilot, app, load(0, workers=1, lag=0.4, in_flight=3))
        assert strip(app).display
        assert strip(app).plain.splitlines()[0] == (
            "Client 1 worker · lag p99 0.4 ms · 6,200 chunks/s · CPU 88%"
        )
        assert "3 in flight" in status(app)  # issue 11: requests in flight live
        assert "bottleneck" not in strip(app).plain

    await run_with(test, (120, 36))


async def test_two_workers_one_overloaded_warns_in_words() -> None:
    async def test(pilot: Pilot[None], app: Host) -> None:
        await feed(pilot, app, load(0, in_flight=12), load(1, lag=7.2, in_flight=9))
        lines = strip(app).plain.splitlines()
        assert lines[0].startswith("Client 2 workers on 1 node · lag p99 7.2 ms (worker 2)")
        assert "21 in flight" in status(app)
        assert lines[1].startswith("⚠ the client is the bottleneck here (worker 2 lag p99 7.2 ms)")
        # roomy (120x36): a line per worker under the column titles
        assert lines[2].split() == ["worker", "node", "pid", "chunks/s", "CPU", "lag", "p99",
                                    "in", "flight", "memory"]  # fmt: skip
        assert lines[3].split()[:7] == ["1", "bench-1", "4242", "6,200", "88%", "0.8", "ms"]
        assert lines[4].split()[:7] == ["2", "bench-1", "4243", "6,200", "88%", "7.2", "ms"]
        # it recovers: the warning goes
        await feed(pilot, app, load(1, lag=1.1, in_flight=9))
        assert "bottleneck" not in strip(app).plain

    await run_with(test, (120, 36))


async def test_a_silent_worker_shows_stale_not_numbers() -> None:
    async def test(pilot: Pilot[None], app: Host) -> None:
        await feed(pilot, app, load(0, in_flight=12, lag=9.0), load(1, in_flight=9))
        app.clock.now += 2.0
        await feed(pilot, app, load(1, in_flight=5))  # worker 1 silent since
        app.clock.now += 2.0  # 4 s: stale; the strip redraws each second by itself
        await pilot.pause(1.3)
        text = strip(app).plain
        assert "1 stale" in text.splitlines()[0]
        assert "stale (no report for 4 s)" in text.splitlines()[2]
        assert "9.0" not in text  # its last numbers are not shown as live...
        assert "bottleneck" not in text  # ...nor warned about
        assert "5 in flight" in status(app)  # the stale worker's 12 left out

    await run_with(test, (120, 36))


async def test_compact_at_80x24_until_w_and_final_figures_after_the_end() -> None:
    async def test(pilot: Pilot[None], app: Host) -> None:
        await feed(pilot, app, load(0), load(1, lag=7.2))
        lines = strip(app).plain.splitlines()
        assert len(lines) == 2 and "worker 2 lag p99 7.2 ms" in lines[1]
        await pilot.press("w")  # every worker's line
        assert len(strip(app).plain.splitlines()) == 5
        app.session.cancel()
        await until(pilot, lambda: not app.session.running, "the end")
        await pilot.pause()
        assert strip(app).plain.splitlines() == [
            "Client 2 workers on 1 node · lag p99 peak 7.2 ms (worker 2)",
            "⚠ the client was the bottleneck at times (worker 2 lag p99 up to 7.2 ms)"
            ": timings of that time may be late",
        ]
        assert "in flight" not in status(app)
        app.session.start()  # a re-run starts with no report: no strip
        await pilot.pause()
        assert not strip(app).display and app.session.workers.empty

    await run_with(test, (80, 24))


async def test_a_result_from_the_history_has_no_strip() -> None:
    class Loaded(App[None]):
        def on_mount(self) -> None:
            session = BenchmarkSession.of_result(self, fixed_result(), history_id=3)
            self.push_screen(ResultsScreen(session, show_clock=False))

    app = Loaded()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert not strip(app).display and strip(app).plain == ""


async def test_no_color_still_says_the_warning_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def test(pilot: Pilot[None], app: Host) -> None:
        await feed(pilot, app, load(0), load(1, lag=7.2))
        await pilot.pause()
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "⚠ the client is the bottleneck here (worker 2 lag p99 7.2 ms)" in shown

    await run_with(test, (80, 24))
