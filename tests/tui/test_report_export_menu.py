"""The export menu's HTML entry writes the self-contained report."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Input

from ometer_tui.tui.screens.export_menu import ExportMenu
from ometer_tui.tui.session import BenchmarkSession
from tests.history_samples import CANARY, synthetic_result
from tests.unit.test_report_html import assert_self_contained, table_rows


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class ExportHost(App[None]):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.written: list[Path | None] = []

    def on_mount(self) -> None:
        result = synthetic_result(models=("m<1>", "m2"), with_canary=True, error_every=5)
        session = BenchmarkSession.of_result(self, result)
        self.push_screen(ExportMenu(session, folder=self.folder), self.written.append)


async def test_the_html_entry_writes_the_report(tmp_path: Path) -> None:
    app = ExportHost(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        menu = app.screen
        assert isinstance(menu, ExportMenu)
        await pilot.press("down", "down", "down")
        path = menu.query_one("#export-path", Input).value
        assert path.endswith(".html") and path.startswith(str(tmp_path))
        await pilot.press("enter")
        for _ in range(100):
            if app.written:
                break
            await pilot.pause(0.05)
    assert app.written == [Path(path)]
    html = read(Path(path))
    assert_self_contained(html)
    assert [r[0] for r in table_rows(html, "One row per model (measured runs only)")] == [
        "m<1>",
        "m2",
    ]
    assert CANARY not in html
