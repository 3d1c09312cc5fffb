"""The run panel's Workers field: blank is automatic, 1..64 reaches the plan, anything
else is one clear line naming the field; remembered like the other choices."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from ometer_tui.core.bench.plan import BenchmarkPlan
from tests.tui.conftest import AppFactory, Settle
from tests.tui.picker_helpers import FakeResults, open_picker
from tests.tui.test_model_picker import SIZE


async def test_workers_reach_the_plan_and_are_remembered(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        field = screen.query_one("#workers", Input)
        assert field.value == ""  # automatic
        await pilot.press("space")
        await pilot.press("b")  # blank: automatic
        await settle(pilot)
        app.pop_screen()
        await settle(pilot)
        screen.query_one("#workers", Input).value = " 3 "
        await pilot.press("b")
        await settle(pilot)
    assert [plan.workers for plan in FakeResults.plans] == [None, 3]
    app = make_app(demo_config)  # a new app: the panel remembers
    async with app.run_test(size=SIZE) as pilot:
        again = await open_picker(app, pilot, settle)
        assert again.query_one("#workers", Input).value.strip() == "3"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "workers: must be 1..64 (got 0)"),
        ("65", "workers: must be 1..64 (got 65)"),
        ("two", "workers: 'two' is not a whole number"),
    ],
)
async def test_bad_workers_name_the_field(
    make_app: AppFactory, demo_config: Path, settle: Settle, value: str, expected: str
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        screen.query_one("#workers", Input).value = value
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen  # not started
        errors = str(screen.query_one("#plan-errors", Static).render())
        assert errors.strip() == expected
