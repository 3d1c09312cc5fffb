"""SVG snapshots of a finished sweep on the results screen: the step table under the
results (a fixed two-step result, ``tests/unit/test_sweep_export.sweep_result``: nothing
measured, no clock); and the run panel's Steps section open with a rate search. Update
with ``pytest tests/tui/test_snapshots_sweep.py --snapshot-update`` and look at the
SVGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_snapshots import offline, omapp, saved_config, settled, then  # noqa: F401
from test_snapshots_load import load_offline  # noqa: F401 - a fixture
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Collapsible, Input, Select

from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from tests.tui.test_snapshots import SnapHost
from tests.unit.test_sweep_export import sweep_result

SnapCompare = Callable[..., bool]


def sweep_app() -> SnapHost:
    def screen(app: App[None]) -> Any:
        return ResultsScreen(BenchmarkSession.of_result(app, sweep_result()), show_clock=False)

    return SnapHost(screen)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_results_with_the_step_table(snap_compare: SnapCompare, size: Any) -> None:
    """Two steps of model m (concurrency 1 meets ttft <= 100 ms, 4 misses and is
    saturated), the SLOs, the knee and the stop reason under the table."""
    assert snap_compare(sweep_app(), terminal_size=size)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_run_panel_steps_section(
    snap_compare: SnapCompare,
    load_offline: Path,  # noqa: F811 - the fixture
    size: Any,
) -> None:
    """The Steps section open: a rate search with SLOs, its precision and step length,
    the early-stop box; the precision field focused (scrolled into view)."""
    app = omapp(saved_config(load_offline), demo=True)

    async def search(pilot: Pilot[Any]) -> None:
        await then("enter", "space")(pilot)
        screen = pilot.app.screen
        screen.query_one("#steps", Collapsible).collapsed = False  # as enter on its title
        await settled(pilot)
        screen.query_one("#search", Select).value = "rate"
        for field_id, text in (("slo", "ttft:500 e2el:4000"), ("precision", "0.1"),
                               ("step_duration", "5")):  # fmt: skip
            screen.query_one(f"#{field_id}", Input).value = text
        await settled(pilot)
        screen.query_one("#precision", Input).focus()
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=search)
