"""The TUI and the history: results saved when a benchmark ends, the history screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Static

from ometer_tui.core.history import HistoryStore
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.results import ResultsScreen
from tests.tui.conftest import AppFactory
from tests.tui.test_results_screen import SIZE, make_plan, wait_for


def _question(screen: object) -> str:
    assert isinstance(screen, ConfirmScreen)
    return str(screen.query_one("#confirm-question", Static).render())


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(text)


def _history() -> Path:
    return Path(os.environ["OMETER_TUI_HISTORY"])  # private to each test (conftest)


async def test_a_finished_benchmark_is_saved_to_the_history(
    make_app: AppFactory, demo_config: Path, demo_server: DemoServerThread
) -> None:
    url = demo_server.url
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session = app.start_benchmark(make_plan(url, "demo-fast:1b", passes=1, warmup=0))
        await wait_for(pilot, lambda: session.history_id is not None, what="the save")
        assert not session.unsaved  # kept in the history: leaving asks nothing
        with HistoryStore(_history()) as store:
            (entry,) = store.entries()
        assert entry.id == session.history_id and entry.models == ("demo-fast:1b",)
        assert entry.runs == len(session.result.models["demo-fast:1b"].records) == 1
        await pilot.press("escape")  # no "discard?" question
        await wait_for(pilot, lambda: not isinstance(app.screen, ResultsScreen))


async def test_history_off_saves_nothing_and_leaving_asks_first(
    make_app: AppFactory, demo_config: Path, demo_server: DemoServerThread
) -> None:
    _append(demo_config, "\n[history]\nenabled = false\n")
    url = demo_server.url
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session = app.start_benchmark(make_plan(url, "demo-fast:1b", passes=1, warmup=0))
        await wait_for(pilot, lambda: not session.running, what="the run")
        await pilot.pause(0.2)
        assert session.history_id is None and session.unsaved
        assert not _history().exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "history is off" in _question(app.screen)


async def test_a_history_that_cannot_be_written_is_reported_and_the_result_kept(
    make_app: AppFactory,
    demo_config: Path,
    demo_server: DemoServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not an SQLite database at all" * 100)
    monkeypatch.setenv("OMETER_TUI_HISTORY", str(bad))
    url = demo_server.url
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session = app.start_benchmark(make_plan(url, "demo-fast:1b", passes=1, warmup=0))
        await wait_for(pilot, lambda: session.history_reason is not None, what="the report")
        assert session.history_id is None and session.unsaved
        assert any("Not saved to the history" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "nor saved to the history" in _question(app.screen)
