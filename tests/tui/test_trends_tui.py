"""Trends on the results screen, the baseline on the detail screen, two rows compared and
the comparison exported, against a history seeded in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from textual.app import App
from textual.command import CommandPalette
from textual.widgets import OptionList, Static

from ometer_tui.core.compare import (
    Verdict,
    comparison_to_csv,
    comparison_to_json,
    comparison_to_markdown,
)
from ometer_tui.core.history import HistoryStore
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.commands import ActionsProvider
from ometer_tui.tui.screens.compare import CompareScreen
from ometer_tui.tui.screens.compare_export import CompareExportMenu
from ometer_tui.tui.screens.history import HistoryScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.fitted_table import FittedTable
from tests.tui.conftest import AppFactory, Settle
from tests.tui.test_results_screen import SIZE, make_plan, wait_for
from tests.tui.trend_samples import CHAT, seeded_history, trend_result


class Host(App[None]):
    """A results screen of the fixed result, with the given history (and the app's
    command palette)."""

    COMMANDS: ClassVar[Any] = App.COMMANDS | {ActionsProvider}

    def __init__(self, history: Path | None, names: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.history = history
        self.names = names
        self.session: BenchmarkSession | None = None

    def on_mount(self) -> None:
        self.session = BenchmarkSession.of_result(self, trend_result(self.names),
                                                  history=self.history)  # fmt: skip
        self.push_screen(ResultsScreen(self.session, show_clock=False))

    @property
    def results(self) -> ResultsScreen:
        screen = self.screen_stack[1]
        assert isinstance(screen, ResultsScreen)
        return screen


async def _settled(pilot: object) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_trend_marks_against_a_seeded_history(tmp_path: Path) -> None:
    app = Host(seeded_history(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.session.trends,
                       what="the trends")  # fmt: skip
        await _settled(pilot)
        table = app.results.table
        rows = table.model_rows
        fast, think = rows["demo-fast:1b"], rows["demo-think:7b"]
        # demo-fast:1b went from 43 ms to 34 ms: better beyond noise, marked ▼ in green
        assert fast["ttft_d"].text == "▼21%" and fast["ttft_d"].style == "green"
        assert fast["ttft_d"].raw is not None and fast["ttft_d"].raw < -15
        # demo-think:7b is as it was: within noise
        assert think["ttft_d"].text == "≈" and think["tps_d"].text == "≈"
        assert rows["demo-slow:70b"]["ttft_d"].text == ""  # 2 runs: too few to tell
        assert "ttft_d" in table.visible_columns and "tps_d" in table.visible_columns
        legend = str(app.results.query_one("#results-legend", Static).render())
        assert "Δ: vs history #1" in legend
        # the detail screen names the baseline and each metric's A -> B and verdict
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        trend = str(app.screen.query_one("#detail-trend", Static).render())
        assert trend.startswith('vs history #1 (2026-11-21 10:00, "before upgrade")')
        assert "TTFT p50 43.0 → 34.0 ms ▼ 21% better" in trend
        assert "Decode p50 200 → 200 tok/s ≈" in trend


@pytest.mark.parametrize("case", ["off", "empty", "damaged"])
async def test_no_trend_and_no_failure_without_a_comparable_result(
    tmp_path: Path, case: str
) -> None:
    history: Path | None = tmp_path / "history.sqlite3"
    if case == "off":
        history = None
    elif case == "damaged":
        assert history is not None
        history.write_bytes(b"not a database" * 50)
    app = Host(history)
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        table = app.results.table
        assert app.session is not None and app.session.trends == {}
        assert not any(k.endswith("_d") for k in table.visible_columns)
        assert "ttft" in table.visible_columns
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert not app.screen.query_one("#detail-trend", Static).display
    if case == "empty":
        assert history is not None and not history.exists()  # looking created nothing


async def test_a_result_opened_from_history_compares_with_an_older_one(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    history = Path(os.environ["OMETER_TUI_HISTORY"])
    with HistoryStore(history) as store:
        older = store.add_result(trend_result(CHAT, baseline=True))
        newer = store.add_result(trend_result(CHAT))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for opened, baseline in ((newer, older), (older, None)):
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
            screen = app.screen
            assert isinstance(screen, HistoryScreen)
            await wait_for(pilot, lambda: screen.loaded, what="the list")  # noqa: B023
            screen.table.move_to(str(opened))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
            results = app.screen
            assert isinstance(results, ResultsScreen)
            await settle(pilot)
            trends = results.session.trends
            if baseline is None:  # the oldest has nothing older to compare with
                assert trends == {}
            else:
                assert {t.baseline.id for t in trends.values()} == {baseline}
                assert results.table.model_rows["demo-fast:1b"]["ttft_d"].text == "▼21%"
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
            await pilot.press("escape")
            await settle(pilot)


async def test_a_finished_run_shows_its_trend_against_the_last_saved_one(
    make_app: AppFactory, demo_config: Path, demo_server: DemoServerThread, settle: Settle
) -> None:
    app = make_app(demo_config)
    plan = make_plan(demo_server.url, "demo-fast:1b", passes=5, warmup=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.start_benchmark(plan)
        await wait_for(pilot, lambda: first.history_id is not None, what="the first save")
        assert first.trends == {}  # nothing to compare with yet
        first_id = first.history_id
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ResultsScreen))
        second = app.start_benchmark(plan)
        await wait_for(pilot, lambda: second.trends, what="the trends")
        assert second.trends["demo-fast:1b"].baseline.id == first_id
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await settle(pilot)
        mark = screen.table.model_rows["demo-fast:1b"]["ttft_d"].text
        assert mark == "≈" or mark[:1] in "▲▼"  # 5 runs each: judged either way


async def test_mark_two_rows_compare_and_export_each_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = Host(None, CHAT)
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        table = app.results.table
        assert not table.check_action("compare_marked", ())  # not in the footer yet
        table.move_cursor(row=table.row_keys.index("demo-think:7b"))
        await pilot.press("space")
        assert table.check_action("compare_marked", ())
        await pilot.press("C")  # one marked: says what to do
        await wait_for(pilot, lambda: any("Mark two" in n.message for n in app._notifications))
        assert isinstance(app.screen, ResultsScreen)
        table.move_cursor(row=table.row_keys.index("demo-fast:1b"))
        await pilot.press("space")
        assert table.marked == ["demo-think:7b", "demo-fast:1b"]
        assert table.cells_of("demo-think:7b")["status"].plain.startswith("A ")
        assert table.cells_of("demo-fast:1b")["status"].plain.startswith("B ")
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        (pair,) = compare.comparison.pairs
        assert (pair.a.model, pair.b.model) == ("demo-think:7b", "demo-fast:1b")
        assert pair.metric("ttft_p50").verdict is Verdict.BETTER  # fast is faster
        assert pair.metric("ttft_p90").verdict is Verdict.TOO_FEW
        cells = compare.query_one("#compare-table-0", FittedTable).cells_of("ttft_p90")
        assert cells["verdict"].plain == "too few runs (need 20)"
        assert (
            compare.query_one("#compare-table-0", FittedTable).cells_of("ttft_p50")["verdict"].plain
            == "better"
        )
        renders = {"json": comparison_to_json, "csv": comparison_to_csv,
                   "md": comparison_to_markdown}  # fmt: skip
        for index, (fmt, render) in enumerate(renders.items()):
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareExportMenu))
            menu = app.screen
            assert isinstance(menu, CompareExportMenu)
            menu.query_one("#export-formats", OptionList).highlighted = index
            await pilot.pause()
            path = menu.target_path()
            assert path == tmp_path / f"ometer-compare-demo-think-7b-vs-demo-fast-1b.{fmt}"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is compare, what="the export")
            assert path.read_text(encoding="utf-8") == render(compare.comparison)
            assert compare.exported_to == path
            status = str(compare.query_one("#compare-status", Static).render())
            assert f"exported to {path}" in status
        # writing again asks before overwriting; "keep" leaves the file as it was
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareExportMenu))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Overwrite" in type(app.screen).__name__
                       or app.screen.query("#confirm-question"))  # fmt: skip
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareExportMenu))
        names = {f"ometer-compare-demo-think-7b-vs-demo-fast-1b.{fmt}" for fmt in renders}
        assert set(os.listdir(tmp_path)) == names  # written atomically: no leftovers


async def test_compare_rows_is_in_the_palette(tmp_path: Path) -> None:
    app = Host(None, CHAT)
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        table = app.results.table
        await pilot.press("space", "down", "space")
        assert len(table.marked) == 2
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"compare the two marked")
        await pilot.pause(0.3)  # the palette searches in the background
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
