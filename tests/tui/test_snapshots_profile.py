"""SVG snapshots of the custom API profile in settings (issue #14): the endpoint form
with a profile, and the profile editor (a route tab, and a refused save naming its
field) at 120x36 and 80x24. Update with ``--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_snapshots import (  # noqa: F401 - offline is a fixture
    SIZE,
    SMALL,
    SnapCompare,
    offline,
    omapp,
    settled,
)
from test_snapshots_setup import setup_offline  # noqa: F401 - a fixture
from textual.pilot import Pilot
from textual.widgets import Input

from ometer_tui.core.api.custom_profile import builtin_profile
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import Settings, save_settings
from ometer_tui.tui.screens.settings import SettingsScreen


def _config(path: Path) -> Path:
    profile = builtin_profile("llm-api")
    assert profile is not None
    endpoint = Endpoint(
        name="llm-api box",
        url="http://llm.lan:8000",
        api=ApiFlavour.CUSTOM,
        custom=replace(profile, name="llm-api box"),
        token=TokenRef(value=Secret("key-0123456789abcdef")),
        truncate="middle",
        drop_unsupported=True,
    )
    save_settings(Settings(endpoints=[endpoint]), path)
    return path


def _open(*keys: str, bad_path: bool = False) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        pilot.app.push_screen(SettingsScreen(endpoint_name="llm-api box"))
        await settled(pilot)
        for key in keys:
            await pilot.press(key)
            await settled(pilot)
        if bad_path:
            pilot.app.screen.query_one("#chat-path", Input).value = "text_model/chat"
            await pilot.press("ctrl+s")
            await settled(pilot)

    return run


def test_settings_custom_endpoint(snap_compare: SnapCompare, setup_offline: Path) -> None:  # noqa: F811
    app = omapp(_config(setup_offline))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open())


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_profile_editor_chat_route(
    snap_compare: SnapCompare,
    setup_offline: Path,  # noqa: F811
    size: tuple[int, int],
) -> None:
    # settings -> tab from the name to the edit button -> enter; tab to the tabs, right
    app = omapp(_config(setup_offline))
    keys = ("tab", "tab", "tab", "enter", "tab", "right")
    assert snap_compare(app, terminal_size=size, run_before=_open(*keys))


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_profile_editor_refused(
    snap_compare: SnapCompare,
    setup_offline: Path,  # noqa: F811
    size: tuple[int, int],
) -> None:
    app = omapp(_config(setup_offline))
    keys = ("tab", "tab", "tab", "enter")
    assert snap_compare(app, terminal_size=size, run_before=_open(*keys, bad_path=True))
