"""SVG snapshots of the trends on the results screen and of two rows compared.

The history is a temp file seeded with a fixed baseline (#1, a day before the fixed
result; ``tests/tui/trend_samples.py``): nothing measured, no clock in the picture.
Update with ``pytest tests/tui/test_snapshots_trends.py --snapshot-update`` and look at
the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from tests.tui.test_snapshots import SnapHost
from tests.tui.trend_samples import CHAT, seeded_history, trend_result

SnapCompare = Callable[..., bool]
SIZES = pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])


def trends_app(history: Path, names: tuple[str, ...] | None) -> SnapHost:
    def screen(app: App[None]) -> Any:
        session = BenchmarkSession.of_result(app, trend_result(names), history=history)
        return ResultsScreen(session, show_clock=False)

    return SnapHost(screen)


def after_trends(*keys: str) -> Callable[[Pilot[None]], Any]:
    async def run(pilot: Pilot[None]) -> None:
        for _ in range(3):  # the lookup runs in a thread, then the table shows it
            await pilot.pause()
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run


@SIZES
def test_results_with_trends(snap_compare: SnapCompare, tmp_path: Path, size: Any) -> None:
    """Δ after TTFT and tok/s: demo-fast:1b ▼ (better, green), the others ≈; the legend
    names history #1. At 80x24 the chat models only (the Δ columns give way to the
    embedding and error columns when those are shown)."""
    names = None if size == (120, 36) else CHAT
    app = trends_app(seeded_history(tmp_path, names), names)
    assert snap_compare(app, terminal_size=size, run_before=after_trends())


@SIZES
def test_two_rows_compared(snap_compare: SnapCompare, tmp_path: Path, size: Any) -> None:
    """space, down, space marks demo-fast:1b as A and demo-think:7b as B; c compares."""
    app = trends_app(seeded_history(tmp_path, CHAT), CHAT)
    keys = ("space", "down", "space", "C")
    assert snap_compare(app, terminal_size=size, run_before=after_trends(*keys))
