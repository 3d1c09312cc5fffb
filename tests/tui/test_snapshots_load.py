"""SVG snapshots of the run panel's Load section (a preset chosen, the rate field
focused) at 120x36 and 80x24, through the real app with the network calls replaced (the
fakes of ``test_snapshots.py``). Update with ``pytest tests/tui/test_snapshots_load.py
--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_snapshots import (
    SIZE,
    SMALL,
    SnapCompare,
    fake_detect,
    fake_open_client,
    offline,  # noqa: F401 - a fixture
    omapp,
    saved_config,
    settled,
    then,
)
from textual.pilot import Pilot
from textual.widgets import Collapsible, Input, Select


@pytest.fixture
def load_offline(offline: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    import ometer_tui.core.discovery as discovery

    monkeypatch.setattr(discovery, "open_client", fake_open_client)
    monkeypatch.setattr(discovery, "detect_flavour", fake_detect)
    return offline


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_run_panel_load_section(
    snap_compare: SnapCompare, load_offline: Path, size: tuple[int, int]
) -> None:
    # the "load test" preset chosen: open loop, its fields filled, its note; the rate
    # field focused (scrolled into view)
    app = omapp(saved_config(load_offline), demo=True)

    async def load_preset(pilot: Pilot[Any]) -> None:
        await then("enter", "space")(pilot)
        screen = pilot.app.screen
        screen.query_one("#load", Collapsible).collapsed = False  # as enter on its title
        await settled(pilot)
        screen.query_one("#load_preset", Select).value = "load"
        await settled(pilot)
        screen.query_one("#rate", Input).focus()
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=load_preset)
