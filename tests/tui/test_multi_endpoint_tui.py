"""Several endpoints from the TUI: mark two on the endpoints screen, the picker offers
the union of their models marked per endpoint, and the benchmark runs on both (the
session demo server through its native API and its /v1 API, over loopback)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.result import row_key
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, save_settings
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.screens.endpoints import EndpointsScreen
from ometer_tui.tui.screens.model_picker import ModelPickerScreen
from ometer_tui.tui.screens.results import ResultsScreen
from tests.tui.conftest import SIZE, AppFactory, Settle


async def wait_for(pilot: Pilot[None], cond: Callable[[], object], limit_s: float = 60.0) -> None:
    """Poll ``cond`` between UI turns, bounded in time (never a fixed sleep)."""
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def two_apis(config_path: Path, demo: DemoServerThread) -> Path:
    native = Endpoint(name="native", url=demo.url, api=ApiFlavour.OLLAMA)
    v1 = Endpoint(name="v1", url=demo.url, api=ApiFlavour.OPENAI)
    save_settings(Settings(endpoints=[native, v1]), config_path)
    return config_path


async def test_mark_two_endpoints_pick_the_union_and_run_on_both(
    make_app: AppFactory, config_path: Path, demo: DemoServerThread, settle: Settle
) -> None:
    app = make_app(two_apis(config_path, demo))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        endpoints = app.screen
        assert isinstance(endpoints, EndpointsScreen)
        await pilot.press("space", "down", "space")
        assert endpoints.table.marked == ["native", "v1"]
        await pilot.press("space")  # unmark v1, then mark it again
        assert endpoints.table.marked == ["native"]
        await pilot.press("space", "enter")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        assert [e.name for e in picker.endpoints] == ["native", "v1"]
        assert picker.listing.served["demo-fast:1b"] == ("native", "v1")
        assert picker.table.get_row("demo-fast:1b")[2].plain == "native, v1"
        picker.query_one("#passes", Input).value = "2"
        picker.query_one("#warmup", Input).value = "0"
        picker.query_one("#max_tokens", Input).value = "4"
        picker.selected = {"demo-fast:1b"}
        await pilot.press("p")  # at the same time
        assert picker.parallel
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
        results = app.screen
        assert isinstance(results, ResultsScreen)
        await wait_for(
            pilot,
            lambda: (
                not results.benchmark_running
                and all(m.phase is ModelPhase.DONE for m in results.result.models.values())
            ),
        )
        await pilot.pause()
        plan = results.result.plan
        assert plan.multi_endpoint and plan.endpoints_parallel
        assert list(results.result.models) == [
            row_key("native", "demo-fast:1b"),
            row_key("v1", "demo-fast:1b"),
        ]
        for mr in results.result.models.values():
            assert mr.summary is not None and mr.summary.ok == 2
        table = results.table
        assert "endpoint" in table.visible_columns
        cells = [[c.plain for c in table.get_row(row.key)] for row in table.ordered_rows]
        assert [row[1] for row in cells] == ["native", "v1"]
    by_path = demo.stats().by_path
    assert by_path["/api/chat"] == 2 and by_path["/v1/chat/completions"] == 2


async def test_enter_without_marks_picks_the_highlighted_endpoint_alone(
    make_app: AppFactory, config_path: Path, demo: DemoServerThread, settle: Settle
) -> None:
    app = make_app(two_apis(config_path, demo))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen)
        assert [e.name for e in picker.endpoints] == ["v1"]
        assert "On" not in [c.label.plain for c in picker.table.columns.values()]


async def test_debug_log_masks_every_endpoints_token() -> None:
    """The second endpoint's token echoed by a server is masked too (the log masked only
    the first endpoint's secrets)."""
    from textual.app import App
    from textual.widgets import RichLog

    from ometer_tui.core.api.base import ExchangeLogged
    from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
    from ometer_tui.core.models import ModelInfo
    from ometer_tui.core.secrets import Secret, TokenRef
    from ometer_tui.tui.screens.debug_log import DebugLogScreen
    from ometer_tui.tui.session import BenchmarkSession

    token = "sk-SECOND-ENDPOINT-0123456789"
    local = Endpoint(name="local", url="http://127.0.0.1:1", api=ApiFlavour.OLLAMA)
    cloud = Endpoint(
        name="cloud", url="http://127.0.0.1:2", api=ApiFlavour.OPENAI,
        token=TokenRef(value=Secret(token)),
    )  # fmt: skip
    model = (ModelInfo(name="m"),)
    plan = combine_plans([BenchmarkPlan(endpoint=ep, models=model) for ep in (local, cloud)])
    echoed = ExchangeLogged(
        model="m", method="POST", url="http://127.0.0.1:2/v1/chat/completions",
        request_headers={}, request_body="{}", status=401, response_headers={},
        response_excerpt=f'{{"error":"bad key {token}"}}', error="401", elapsed_s=0.01,
    )  # fmt: skip

    class LogHost(App[None]):
        def on_mount(self) -> None:
            session = BenchmarkSession(self, plan)
            session.fold.apply([echoed])
            self.push_screen(DebugLogScreen(session))

    app = LogHost()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        log = app.screen.query_one("#debug-log", RichLog)
        shown = "\n".join(strip.text for strip in log.lines)
        assert "bad key" in shown and token not in shown
