"""Shared by the run-panel tests: a stand-in results screen that captures the plan a run
would start (the ``captured`` fixture in conftest installs it), and the way to the model
picker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.model_picker import ModelPickerScreen

Settle = Callable[[Pilot[None]], Awaitable[None]]


class FakeResults(Screen[None]):
    """Stands in for the results screen: captures the plan instead of running it."""

    plans: list[BenchmarkPlan] = []  # noqa: RUF012 - test capture

    def __init__(self, session: Any, **_: Any) -> None:
        super().__init__()
        FakeResults.plans.append(session.plan)


async def open_picker(app: OmeterApp, pilot: Pilot[None], settle: Settle) -> ModelPickerScreen:
    """From the endpoints screen to the model picker of the highlighted endpoint."""
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ModelPickerScreen)
    return screen
