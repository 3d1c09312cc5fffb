"""The settings screen edits the ``[defaults]`` load keys (issue #11): shown from the
file, each checked by its one rule with the key named, saved atomically beside the rest
of the file (endpoints, ``[slo]``, ``[telemetry]`` and the other defaults kept)."""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select

from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.options import LoadOptions
from ometer_tui.core.settings import Defaults, Settings, load_settings, save_settings
from ometer_tui.core.telemetry.config import TelemetrySettings
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.settings import SettingsScreen
from ometer_tui.tui.widgets.load_form import LoadSection

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]


def read(path: Path) -> str:
    return path.read_text()


async def test_load_keys_are_shown_checked_and_saved_with_the_rest_kept(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    endpoints = load_settings(demo_config).endpoints
    save_settings(
        Settings(
            endpoints=list(endpoints),
            defaults=Defaults(passes=4, load=LoadOptions(requests=50, output_tokens=Fixed(32))),
            slo=SloTargets((("ttft", 500.0),), 95.0),
            telemetry=TelemetrySettings(enabled=False, interval_s=2.0),
        ),
        demo_config,
    )
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        section = screen.query_one(LoadSection)
        texts = section.texts()
        assert texts["requests"] == "50" and texts["output_tokens"] == "32"
        assert texts["load_mode"] == "closed" and texts["rate"] == ""
        # a bad value is named by its key and nothing is written
        before = read(demo_config)
        screen.query_one("#load_mode", Select).value = "open"
        await pilot.pause()
        screen.query_one("#rate", Input).value = "0"
        screen.query_one("#turns", Input).value = "two"
        await pilot.press("ctrl+s")
        await settle(pilot)
        errors = str(screen.query_one("#defaults-errors").render())
        assert "rate: must be more than 0, got 0" in errors
        assert "turns: " in errors and "'two'" in errors
        assert read(demo_config) == before
        # good values: saved, the rest of the file kept
        screen.query_one("#rate", Input).value = "4"
        screen.query_one("#turns", Input).value = ""
        screen.query_one("#duration_s", Input).value = "30"
        screen.query_one("#arrival", Input).value = "constant"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert str(screen.query_one("#defaults-errors").render()) == ""
        data = tomllib.loads(read(demo_config))
        defaults = data["defaults"]
        assert isinstance(defaults, dict)
        assert {k: defaults.get(k) for k in ("rate", "arrival", "duration_s", "requests",
                                              "output_tokens", "passes")} == {
            "rate": 4.0, "arrival": "constant", "duration_s": 30.0, "requests": 50,
            "output_tokens": 32, "passes": 4,
        }  # fmt: skip
        assert "turns" not in defaults
        assert data["slo"] == {"ttft": 500.0, "percentile": 95.0}
        assert data["telemetry"] == {"enabled": False, "interval_s": 2.0}
        assert [e["name"] for e in data["endpoints"]] == [e.name for e in endpoints]
        assert read(Path(str(demo_config) + ".bak")) == before  # the previous file
        assert app.settings.defaults.load.rate == 4.0  # in use at once
        # a closed loop drops the open-loop keys
        screen.query_one("#load_mode", Select).value = "closed"
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = tomllib.loads(read(demo_config))["defaults"]
        assert "rate" not in saved and "arrival" not in saved and saved["duration_s"] == 30.0
