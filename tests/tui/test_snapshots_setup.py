"""SVG snapshots of the set-up screens (endpoints, model picker, settings, help, confirm)
at 120x36, 80x24 and 60x20, through the real app with the network calls replaced.

The fakes (probe answers, the demo catalogue as the model list, a fake home) are those of
``test_snapshots.py``; here the model discovery function is faked too. Update with
``pytest tests/tui/test_snapshots_setup.py --snapshot-update`` and look at the SVGs.
"""

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
from textual.widgets import Input

TINY = (60, 20)


@pytest.fixture
def setup_offline(offline: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """``offline``, and the one discovery function answering from the same fakes."""
    import ometer_tui.core.discovery as discovery

    monkeypatch.setattr(discovery, "open_client", fake_open_client)
    monkeypatch.setattr(discovery, "detect_flavour", fake_detect)
    return offline


# ----------------------------------------------------------------------- endpoints
@pytest.mark.parametrize("size", [SIZE, SMALL, TINY], ids=["120x36", "80x24", "60x20"])
def test_endpoints(snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=size, run_before=then("down", "down"))


def test_first_launch(snap_compare: SnapCompare, setup_offline: Path) -> None:
    assert snap_compare(omapp(setup_offline), terminal_size=SIZE, run_before=then())


def test_settings_file_not_loaded(snap_compare: SnapCompare, setup_offline: Path) -> None:
    setup_offline.parent.mkdir(parents=True)
    setup_offline.write_text("[defaults\npasses = 3\n")
    assert snap_compare(omapp(setup_offline), terminal_size=SMALL, run_before=then())


def test_confirm_delete(snap_compare: SnapCompare, setup_offline: Path) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=then("down", "delete"))


# -------------------------------------------------------------------- model picker
@pytest.mark.parametrize("size", [SIZE, SMALL, TINY], ids=["120x36", "80x24", "60x20"])
def test_model_picker(
    snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]
) -> None:
    # 60x20: fault-rate-limited and fault-rate-limited-once cut in the middle, apart;
    # the run button on screen
    app = omapp(saved_config(setup_offline), demo=True)
    keys = ("enter", "down", "space", "down", "down", "space")
    assert snap_compare(app, terminal_size=size, run_before=then(*keys))


def test_model_picker_filtered(snap_compare: SnapCompare, setup_offline: Path) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    keys = ("enter", "slash", "f", "a", "u", "l", "t", "enter", "a")
    assert snap_compare(app, terminal_size=SIZE, run_before=then(*keys))


def test_run_panel_focused_field(snap_compare: SnapCompare, setup_offline: Path) -> None:
    # the focused field's row is lit and its label bold; the footer shows enter: Run
    app = omapp(saved_config(setup_offline), demo=True)

    async def focus_field(pilot: Pilot[Any]) -> None:
        await then("enter", "space")(pilot)
        pilot.app.screen.query_one("#max_tokens", Input).focus()
        await settled(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=focus_field)


def test_run_panel_validation_error(snap_compare: SnapCompare, setup_offline: Path) -> None:
    app = omapp(saved_config(setup_offline), demo=True)

    async def invalid_plan(pilot: Pilot[Any]) -> None:
        await then("enter", "space")(pilot)
        screen = pilot.app.screen
        screen.query_one("#passes", Input).value = "five"
        screen.query_one("#top_p", Input).value = "1.5"
        await pilot.press("b")
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=invalid_plan)


# ------------------------------------------------------------------------ settings
@pytest.mark.parametrize("size", [SIZE, TINY], ids=["120x36", "60x20"])
def test_settings_new_endpoint(
    snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]
) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=size, run_before=then("n"))


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_settings_existing_endpoint_with_token(
    snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]
) -> None:
    # demo, gpu-box, hosted: edit the one with a token ("Remove the saved token" shown)
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=size, run_before=then("down", "down", "e"))


# ---------------------------------------------------------------------------- help
@pytest.mark.parametrize("size", [SIZE, TINY], ids=["120x36", "60x20"])
def test_help(snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=size, run_before=then("question_mark"))


def test_help_of_the_picker(snap_compare: SnapCompare, setup_offline: Path) -> None:
    # the filter box's and the run panel fields' own keys, beside the screen's
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=then("enter", "question_mark"))


# -------------------------------------------------------------- server info panel
@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_endpoints_server_info(
    snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]
) -> None:
    # gpu-box: Ollama with two models loaded, part of one in RAM (the panel under the table)
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=size, run_before=then("down"))


def test_endpoints_server_info_unavailable(snap_compare: SnapCompare, setup_offline: Path) -> None:
    # hosted: every page asks for other credentials: said once, with the pages
    app = omapp(saved_config(setup_offline), demo=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=then("down", "down"))
