"""SVG snapshots of a finished sweep on the results screen: the step table under the
results (a fixed two-step result, ``tests/unit/test_sweep_export.sweep_result``: nothing
measured, no clock). Update with ``pytest tests/tui/test_snapshots_sweep.py
--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App

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
