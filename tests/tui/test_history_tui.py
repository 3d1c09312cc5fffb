"""The TUI and the history: results saved when a benchmark ends, the history screen."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from ometer_tui.core.compare import Verdict
from ometer_tui.core.history import HistoryStore
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.compare import CompareScreen
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.history import HistoryScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.screens.text_prompt import TextPrompt
from ometer_tui.tui.widgets.fitted_table import FittedTable
from tests.history_samples import synthetic_result
from tests.tui.conftest import AppFactory, Settle
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
        told = lambda: any("Not saved to the history" in n.message for n in app._notifications)  # noqa: E731
        await wait_for(pilot, told, what="the notice")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "nor saved to the history" in _question(app.screen)


# ---------------------------------------------------------------- the history screen


def _seed(path: Path) -> list[int]:
    """Three saved results: two endpoints, one with errors, one labelled."""
    with HistoryStore(path) as store:
        return [
            store.add_result(synthetic_result(runs=4, models=("llama3:8b",), seed=1,
                                              started=datetime(2026, 11, 1, 9, tzinfo=UTC))),
            store.add_result(synthetic_result(runs=6, models=("qwen2:7b", "phi3:mini"),
                                              endpoint_name="cloud", error_every=3, seed=2,
                                              started=datetime(2026, 11, 2, 9, tzinfo=UTC))),
            store.add_result(synthetic_result(runs=2, models=("llama3:8b",), seed=3,
                                              started=datetime(2026, 11, 3, 9, tzinfo=UTC)),
                             label="before upgrade"),
        ]  # fmt: skip


async def _open_history(pilot: Pilot[None], app: OmeterApp) -> HistoryScreen:
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_for(pilot, lambda: screen.loaded, what="the list")
    await pilot.pause()
    return screen


async def test_h_lists_the_saved_results_newest_first_and_filters_as_you_type(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    ids = _seed(_history())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_history(pilot, app)
        assert screen.table.row_keys == [str(i) for i in reversed(ids)]
        row = screen.table.cells_of(str(ids[1]))
        assert row["endpoint"].plain == "cloud"
        assert row["models"].plain == "qwen2:7b, phi3:mini"
        assert row["runs"].plain == "8/4"  # 6 runs per model, every third failed
        assert screen.table.cells_of(str(ids[2]))["label"].plain == "before upgrade"
        await pilot.press(*"phi3")  # typing filters (once started, h is filter text)
        await wait_for(pilot, lambda: screen.table.row_keys == [str(ids[1])], what="filter")
        await pilot.press("escape")  # to the list, filter kept
        await pilot.press("escape")  # back
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen))


async def test_history_sorts_by_column(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    ids = _seed(_history())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_history(pilot, app)
        await pilot.press("s")  # date: newest first
        assert screen.sort == ("date", True)
        assert screen.table.row_keys == [str(i) for i in reversed(ids)]
        await pilot.press("s", "s")  # models, A→Z
        assert screen.sort == ("models", False)
        assert screen.table.row_keys[-1] == str(ids[1])  # "qwen2…" last
        await pilot.press("r")
        assert screen.table.row_keys[0] == str(ids[1])
        header = screen.table.columns[next(k for k in screen.table.columns if k == "models")]
        assert header.label.plain.endswith("▼")


async def test_enter_opens_a_saved_result_as_a_loaded_session(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    ids = _seed(_history())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_history(pilot, app)
        screen.table.move_to(str(ids[1]))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert set(results.row_order()) == {"qwen2:7b", "phi3:mini"}
        assert len(results.result.models["qwen2:7b"].records) == 7  # warm-up + 6
        assert results.session.history_id == ids[1] and not results.session.unsaved
        assert app.session is results.session
        await pilot.press("enter")  # the detail works on a loaded result
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="detail")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is results)
        await pilot.press("escape")  # kept in history: no question, back to the list
        await wait_for(pilot, lambda: app.screen is screen)


async def test_label_and_delete_change_the_store(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    ids = _seed(_history())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_history(pilot, app)
        screen.table.move_to(str(ids[0]))
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), what="prompt")
        await pilot.press(*"q4 baseline", "enter")
        cell = lambda: screen.table.cells_of(str(ids[0])).get("label", Text()).plain  # noqa: E731
        await wait_for(pilot, lambda: cell() == "q4 baseline", what="the label")
        with HistoryStore(_history()) as store:
            assert store.entry(ids[0]).label == "q4 baseline"
        await pilot.press("x")  # asks first; "no" keeps it
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen)
        assert str(ids[0]) in screen.table.row_keys
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: str(ids[0]) not in screen.table.row_keys, what="delete")
        with HistoryStore(_history()) as store:
            assert [e.id for e in store.entries()] == [ids[2], ids[1]]


async def test_history_is_in_the_palette_and_an_empty_history_says_so(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"saved results")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: screen.loaded, what="the list")
        status = str(screen.query_one("#history-status", Static).render())
        assert status.startswith("No results saved yet")
        assert not _history().exists()  # looking does not create a database


async def test_mark_two_and_c_compares_them_older_as_a(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    with HistoryStore(_history()) as store:
        fast = store.add_result(synthetic_result(runs=30, ttft_ms=100, tps=40, seed=5))
        slow = store.add_result(synthetic_result(runs=30, ttft_ms=300, tps=40, seed=6))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_history(pilot, app)
        await pilot.press("c")  # nothing marked: says what to do
        await wait_for(pilot, lambda: any("Mark two" in n.message for n in app._notifications))
        assert app.screen is screen
        screen.table.move_to(str(slow))
        await pilot.press("space", "down", "space")
        assert sorted(screen.marked) == [fast, slow]
        assert screen.table.cells_of(str(fast))["id"].plain.startswith("●")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        (pair,) = compare.comparison.pairs
        assert (pair.a.source, pair.b.source) == (f"history #{fast}", f"history #{slow}")
        assert pair.metric("ttft_p50").verdict is Verdict.WORSE  # B's TTFT tripled
        shown = str(compare.query_one(".compare-sides", Static).render())
        assert f"A: llama3:8b (lab history #{fast}" in shown
        table = compare.query_one("#compare-table-0", FittedTable)
        assert table.cells_of("ttft_p50")["verdict"].plain == "worse"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("space")  # unmark one: c asks again
        assert len(screen.marked) == 1


def test_the_comparison_colours_its_verdicts() -> None:
    from ometer_tui.core.compare import compare_documents
    from ometer_tui.core.export import to_dict
    from ometer_tui.tui.screens.compare import comparison_table_rows, sides_text

    a = to_dict(synthetic_result(runs=30, ttft_ms=100, seed=5))
    b = to_dict(synthetic_result(runs=30, ttft_ms=300, seed=6, error_every=2))
    (pair,) = compare_documents(a, b).pairs
    rows = comparison_table_rows(pair)
    assert (rows["ttft_p50"]["verdict"].plain, str(rows["ttft_p50"]["verdict"].style)) == (
        "worse",
        "bold red",
    )
    assert rows["ttft_p90"]["verdict"].plain == "too few runs (need 20)"  # 15 ok runs in B
    assert str(rows["ttft_p90"]["verdict"].style) == "yellow"
    assert abs(float(rows["ttft_p50"]["a"].plain) - 100) < 15  # ms, as the exports show it
    assert sides_text(pair).plain.startswith("A: llama3:8b (lab A, ")


def test_the_command_line_history_options_reach_the_tui(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ometer_tui.cli import main

    apps: list[OmeterApp] = []
    monkeypatch.setattr(OmeterApp, "run", lambda self: apps.append(self))
    other = tmp_path / "other.sqlite3"
    assert main(["--config", str(tmp_path / "c.toml"), "--history", str(other)]) == 0
    assert apps[-1].history_target() == other
    assert main(["--config", str(tmp_path / "c.toml"), "--no-history"]) == 0
    assert apps[-1].history_target() is None and apps[-1].history_file() == _history()
