"""A result opened from the history shows the server telemetry it was saved with
(issue #13): the results screen's panel lists the sources and each saved series with its
peak and mean over the run; ``t`` hides and shows it."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Static

from ometer_tui.core.history import HistoryStore
from ometer_tui.tui.screens.history import HistoryScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.widgets.telemetry_panel import TelemetryPanel, TelemetryRow
from tests.tui.conftest import AppFactory, Settle
from tests.tui.test_results_screen import SIZE, wait_for
from tests.unit.test_telemetry_restore import result_with_telemetry


async def test_an_opened_result_shows_its_saved_telemetry(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    with HistoryStore(Path(os.environ["OMETER_TUI_HISTORY"])) as store:
        saved = store.add_result(result_with_telemetry())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_for(pilot, lambda: history.loaded, what="the list")
        history.table.move_to(str(saved))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
        await pilot.pause()
        panel = app.screen.query_one(TelemetryPanel)
        assert panel.shown and panel.has_class("-final")
        sources = str(panel.query_one("#tp-sources", Static).render())
        assert "prometheus ok" in sources and "llamacpp_slots unavailable: 404 Not Found" in sources
        rows = {row.series.metric: row for row in panel.query(TelemetryRow)}
        assert {"requests_running", "generation_tokens", "size_ram"} <= set(rows)
        stats = str(rows["requests_running"].query_one(".tp-stats", Static).render())
        assert stats == "peak 3 mean 2.5"
        await pilot.press("t")
        await pilot.pause()
        assert not panel.shown
        await pilot.press("t")
        await pilot.pause()
        assert panel.shown
