"""SVG snapshots of the history screen at 120x36 and 80x24, through the real app with
the network calls faked (``test_snapshots.offline``) and a history of fixed results.

The history file is given as a relative name (in a temporary current folder) so its
path, shown in the status line, is the same on every machine. Update with
``pytest tests/tui/test_snapshots_history.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_snapshots import (
    SIZE,
    SMALL,
    SnapCompare,
    offline,  # noqa: F401 - a fixture
    omapp,
    saved_config,
    then,
)

from ometer_tui.core.history import HistoryStore
from tests.history_samples import synthetic_result


@pytest.fixture
def history(
    offline: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Four saved results (one simulated-free cloud run with errors, one cancelled, one
    labelled); returns the settings path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMETER_TUI_HISTORY", "history.sqlite3")
    day = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        store.add_result(synthetic_result(runs=6, models=("llama3:8b",), seed=1, started=day))
        store.add_result(
            synthetic_result(runs=6, models=("qwen2.5:7b-instruct-q4_K_M", "phi3:mini"),
                             endpoint_name="cloud", url="https://api.example.com/v1",
                             error_every=3, seed=2, started=day.replace(day=2)),
            label="cloud baseline",
        )  # fmt: skip
        store.add_result(
            synthetic_result(runs=2, models=("llama3:8b",), seed=3, cancelled=True,
                             started=day.replace(day=3))
        )  # fmt: skip
        store.add_result(
            synthetic_result(runs=8, models=("llama3:8b",), seed=4, started=day.replace(day=4)),
            label="after upgrade",
        )
    return saved_config(offline)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_history(snap_compare: SnapCompare, history: Path, size: tuple[int, int]) -> None:
    assert snap_compare(omapp(history), terminal_size=size, run_before=then("h", "down"))


def test_history_filtered_and_sorted(snap_compare: SnapCompare, history: Path) -> None:
    keys = ("h", "slash", "l", "l", "a", "m", "a", "enter", "s", "s", "s", "r")
    assert snap_compare(omapp(history), terminal_size=SMALL, run_before=then(*keys))


def test_history_label_prompt(snap_compare: SnapCompare, history: Path) -> None:
    assert snap_compare(omapp(history), terminal_size=SIZE, run_before=then("h", "l"))


def test_compare_two_marked_results(snap_compare: SnapCompare, history: Path) -> None:
    # #4 (after upgrade) against #1: the same endpoint and model
    keys = ("h", "space", "down", "down", "down", "space", "c")
    assert snap_compare(omapp(history), terminal_size=SIZE, run_before=then(*keys))
