"""The endpoints screen's server information panel: the highlighted endpoint's server,
asked in the background against the real demo over loopback, changing with the cursor;
a server that does not answer says why; a re-check asks again."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, save_settings
from ometer_tui.demo import ollama as demo_ollama
from ometer_tui.demo import openai as demo_openai
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.endpoints import EndpointsScreen
from ometer_tui.tui.widgets.server_info_panel import ServerInfoPanel, fmt_uptime

AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]


async def wait_for(pilot: Pilot[None], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_the_panel_follows_the_cursor_and_a_recheck_asks_again(
    make_app: AppFactory, config_path: Path, demo_server: DemoServerThread
) -> None:
    endpoints = [
        Endpoint(name="as ollama", url=demo_server.url, api=ApiFlavour.OLLAMA),
        Endpoint(name="as vllm", url=demo_server.url, api=ApiFlavour.OPENAI),
        Endpoint(name="nobody", url="http://127.0.0.1:9", api=ApiFlavour.OLLAMA),
    ]
    save_settings(Settings(endpoints=endpoints), config_path)
    app = make_app(config_path)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, EndpointsScreen)
        panel = screen.query_one(ServerInfoPanel)

        def shown() -> str:
            return str(panel.render())

        await wait_for(pilot, lambda: "server: Ollama" in shown(), "the Ollama answer")
        assert f"server: Ollama {demo_ollama.VERSION}" in shown()
        await pilot.press("down")
        await wait_for(pilot, lambda: "server: vLLM" in shown(), "the vLLM answer")
        assert f"vLLM {demo_openai.VERSION} · up " in shown()
        assert "served: 22 models" in shown() and "+19 more" in shown()
        await pilot.press("down")
        await wait_for(pilot, lambda: "unavailable" in shown(), "the failure")
        assert shown() == "server info unavailable: cannot connect (/api/version, /api/ps)"
        await pilot.press("up")  # known: shown at once, not asked again
        assert "server: vLLM" in shown()
        asked = demo_server.stats().by_path.get("/version", 0)
        await pilot.press("r")  # a re-check asks the highlighted endpoint again
        await wait_for(
            pilot,
            lambda: (
                demo_server.stats().by_path.get("/version", 0) > asked and "server: vLLM" in shown()
            ),
            "a fresh answer",
        )


def test_uptime_reads_in_the_largest_units() -> None:
    assert [fmt_uptime(s) for s in (40, 420, 7500, 3 * 86400 + 4 * 3600 + 59)] == [
        "40 s", "7 min", "2 h 05 min", "3 d 4 h"]  # fmt: skip
