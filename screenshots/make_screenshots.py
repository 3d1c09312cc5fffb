"""Drive the real app with Pilot against the in-process demo and save one SVG per screen.

    python screenshots/make_screenshots.py [--out screenshots] [--size 120x36]

The app runs with ``demo=True``, a throw-away settings file and a throw-away history, so
nothing of the user's configuration or history is read or written. The benchmark runs
twice (``R``), so the second run's results show their trends against the first. The
figures in the pictures are real measurements of the simulated endpoint, so they differ
slightly from one run to the next.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ometer_tui.core.settings import Settings, save_settings  # noqa: E402
from ometer_tui.tui.app import OmeterApp  # noqa: E402
from ometer_tui.tui.screens.results import ResultsScreen  # noqa: E402

#: The demo models shown in the pictures (fast ones, a thinking one, an embedding one and
#: one that always fails, so every kind of row appears).
MODELS = (
    "demo-fast:1b",
    "demo-medium:8b",
    "demo-think:7b",
    "demo-embed:335m",
    "fault-server-error",
)


async def wait_for(
    pilot: Pilot[None], cond: Callable[[], object], what: str, limit_s: float = 60.0
) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def screen_named(app: OmeterApp, name: str) -> Callable[[], bool]:
    return lambda: type(app.screen).__name__ == name


_TEXT = re.compile(
    r'(<text\b[^>]*?\bx=")([0-9.]+)("[^>]*?\btextLength=")([0-9.]+)("[^>]*>)((?:&#160;)+)([^<]+)'
)


def anchor_leading_spaces(svg: str) -> str:
    """Move each text span's leading (non-breaking) spaces into its x position.

    Textual's SVG places every span at an absolute x, but some renderers (librsvg, used
    by many viewers and converters) drop a span's leading spaces, shifting its text one
    or more cells left: a table's highlighted row looked flush-left and "name  7.6B"
    read "name7.6B". The picture is the same in a browser either way.
    """

    def fix(m: re.Match[str]) -> str:
        spaces = m.group(6).count("&#160;")
        cells = spaces + len(html.unescape(m.group(7)))
        shift = float(m.group(4)) / cells * spaces
        x = float(m.group(2)) + shift
        length = float(m.group(4)) - shift
        return f"{m.group(1)}{x:g}{m.group(3)}{length:g}{m.group(5)}{m.group(7)}"

    return _TEXT.sub(fix, svg)


async def shoot(app: OmeterApp, out: Path, name: str, pilot: Pilot[None]) -> None:
    await pilot.pause()
    path = out / f"{name}.svg"
    path.write_text(anchor_leading_spaces(app.export_screenshot()), encoding="utf-8")
    print(f"wrote {path}")


async def make(out: Path, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        save_settings(Settings(), config)
        history = str(Path(tmp) / "history.sqlite3")
        app = OmeterApp(config_path=config, demo=True, history=history)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, screen_named(app, "EndpointsScreen"), "the endpoints")
            await pilot.pause(0.5)  # let the live probe answer
            await app.workers.wait_for_complete()
            await shoot(app, out, "endpoints", pilot)

            await pilot.press("enter")
            await wait_for(pilot, screen_named(app, "ModelPickerScreen"), "the picker")
            picker: Screen[object] = app.screen
            models = picker.query_one("#models", DataTable)
            await wait_for(pilot, lambda: models.row_count > 0, "the model list")
            for name in MODELS:
                index = next(
                    i for i, row in enumerate(models.ordered_rows) if row.key.value == name
                )
                models.move_cursor(row=index)
                await pilot.pause()
                await pilot.press("space")
            for field, value in (("#passes", "5"), ("#warmup", "1"), ("#max_tokens", "64")):
                picker.query_one(field, Input).value = value
            models.move_cursor(row=0)
            models.focus()
            await shoot(app, out, "model-picker", pilot)

            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), "results")
            results = app.screen
            assert isinstance(results, ResultsScreen)
            await wait_for(pilot, lambda: not results.benchmark_running, "the benchmark")
            session = results.session
            await wait_for(pilot, lambda: session.history_id is not None, "the first save")
            await pilot.press("R")  # again: the second run's trends are against the first
            await wait_for(pilot, lambda: session.running, "the second run")
            await wait_for(pilot, lambda: not session.running, "the second run's end")
            await wait_for(pilot, lambda: session.trends, "the trends")
            await pilot.pause(0.3)
            await shoot(app, out, "results", pilot)
            await pilot.press("c")  # the chart panel
            await pilot.pause(0.3)
            await shoot(app, out, "charts", pilot)
            await pilot.press("c")

            order = results.row_order()
            for name in ("demo-fast:1b", "demo-medium:8b"):
                results.table.move_cursor(row=order.index(name))
                await pilot.press("space")
            await pilot.press("C")  # compare the two marked rows
            await wait_for(pilot, screen_named(app, "CompareScreen"), "the row compare")
            await shoot(app, out, "compare-rows", pilot)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is results, "the results")

            results.table.move_cursor(row=results.row_order().index("demo-think:7b"))
            await pilot.press("enter")
            await wait_for(pilot, screen_named(app, "RunDetailScreen"), "the run detail")
            await pilot.press("down")
            await shoot(app, out, "run-detail", pilot)
            await pilot.press("c")  # the model's histograms and sparklines
            await pilot.pause(0.3)
            await shoot(app, out, "run-detail-charts", pilot)
            await pilot.press("c")
            await pilot.press("escape")

            await wait_for(pilot, lambda: app.screen is results, "the results")
            await pilot.press("e")
            await wait_for(pilot, screen_named(app, "ExportMenu"), "the export menu")
            await shoot(app, out, "export-menu", pilot)
            await pilot.press("escape")

            await wait_for(pilot, lambda: app.screen is results, "the results")
            await pilot.press("d")
            await wait_for(pilot, screen_named(app, "DebugLogScreen"), "the debug log")
            await pilot.pause(0.6)
            await shoot(app, out, "debug-log", pilot)
            await pilot.press("escape")

            await wait_for(pilot, lambda: app.screen is results, "the results")
            app.action_open_settings()
            await wait_for(pilot, screen_named(app, "SettingsScreen"), "the settings")
            await shoot(app, out, "settings", pilot)
            await pilot.press("escape")

            await wait_for(pilot, lambda: app.screen is results, "the results")
            app.action_help()
            await wait_for(pilot, screen_named(app, "HelpScreen"), "the help")
            await shoot(app, out, "help", pilot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--size", default="120x36", help="WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(make(args.out, (width, height)))


if __name__ == "__main__":
    main()
