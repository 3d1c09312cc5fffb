"""Telemetry settings in the dashboard: the settings screen edits ``[telemetry]`` and an
endpoint's ``metrics_url``; the app's benchmarks honour them (off: no sampler at all)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.settings import Defaults, Settings, save_settings
from ometer_tui.core.telemetry.config import TelemetrySettings
from ometer_tui.core.telemetry.recording import SourceKind
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.settings import SettingsScreen
from ometer_tui.tui.widgets.defaults_form import DefaultsForm
from ometer_tui.tui.widgets.endpoint_form import EndpointForm
from ometer_tui.tui.widgets.form import FormCheckbox
from tests.tui.test_settings_screen import load_toml
from tests.tui.test_setup_widgets import Host

AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]
SIZE = (120, 36)


async def test_the_defaults_form_reads_telemetry_and_names_a_bad_interval() -> None:
    form = DefaultsForm()
    async with Host(form).run_test(size=(80, 50)):
        base = Settings(telemetry=TelemetrySettings(enabled=False, interval_s=0.5))
        form.load(base.defaults, base.telemetry)
        assert form.query_one("#d_telemetry", FormCheckbox).value is False
        read, problems = form.read_settings(base)
        assert problems == [] and read == base
        interval = form.query_one("#d_telemetry_interval", Input)
        for typed, problem in [
            ("0.1", "telemetry.interval_s: must be at least 0.25 s (got 0.1)"),
            ("", "telemetry.interval_s: must not be empty"),
            ("soon", "telemetry.interval_s: 'soon' is not a number"),
        ]:
            interval.value = typed
            read, problems = form.read_settings(base)
            assert read is None and problems == [problem]
        interval.value = "2"
        form.query_one("#d_telemetry", FormCheckbox).value = True
        read, problems = form.read_settings(base)
        assert read is not None and read.telemetry == TelemetrySettings(True, 2.0)
        assert read.defaults == Defaults()


async def test_the_endpoint_form_edits_the_metrics_url() -> None:
    form = EndpointForm()
    async with Host(form).run_test(size=(80, 50)):
        url = "http://gpu-box:8001/metrics"
        endpoint = Endpoint(name="v", url="http://gpu-box:8000", metrics_url=url)
        form.load(endpoint, title=Text("v"))
        assert form.query_one("#metrics_url", Input).value == url
        read, problems = form.read()
        assert problems == [] and read is not None and read.metrics_url == url
        form.query_one("#metrics_url", Input).value = "  "
        read, _ = form.read()
        assert read is not None and read.metrics_url is None
        form.query_one("#metrics_url", Input).value = "gpu-box:8001"
        read, problems = form.read()
        assert read is None
        assert problems == ["metrics_url: must start with http:// or https:// and name a host"]


async def test_the_settings_screen_saves_telemetry_off_and_its_interval(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert not screen.dirty
        screen.query_one("#d_telemetry", FormCheckbox).value = False
        screen.query_one("#d_telemetry_interval", Input).value = "0.5"
        screen.query_one("#metrics_url", Input).value = "http://127.0.0.1:9/metrics"
        await pilot.pause()
        assert screen.dirty
        await pilot.press("ctrl+s")
        await settle(pilot)
        data = load_toml(demo_config)
        assert data["telemetry"] == {"enabled": False, "interval_s": 0.5}
        assert data["endpoints"][0]["metrics_url"] == "http://127.0.0.1:9/metrics"
        assert app.settings.telemetry == TelemetrySettings(False, 0.5)


def plan_on(endpoint: Endpoint) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=endpoint, models=(ModelInfo(name="demo-fast:1b"),), passes=1, warmup=0,
        params=GenerationParams(max_tokens=8),
    )  # fmt: skip


async def wait_for(pilot: Pilot[None], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_telemetry_off_in_the_settings_starts_no_sampler(
    make_app: AppFactory, config_path: Path, demo_server: DemoServerThread
) -> None:
    endpoint = Endpoint(name="demo", url=demo_server.url, api=ApiFlavour.OPENAI)
    save_settings(Settings(endpoints=[endpoint], telemetry=TelemetrySettings(False)), config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        session = app.start_benchmark(plan_on(endpoint))
        assert session.telemetry_factory is None
        await wait_for(pilot, lambda: not session.running, "the end")
        assert session.result.models["demo-fast:1b"].summary is not None
        assert session.result.telemetry is None and session.telemetry is None


async def test_the_settings_interval_and_the_endpoints_metrics_url_are_used(
    make_app: AppFactory, config_path: Path, demo_server: DemoServerThread
) -> None:
    endpoint = Endpoint(name="demo", url=demo_server.url, api=ApiFlavour.OPENAI,
                        metrics_url="http://127.0.0.1:9/metrics")  # fmt: skip
    telemetry = TelemetrySettings(interval_s=0.25)
    save_settings(Settings(endpoints=[endpoint], telemetry=telemetry), config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        session = app.start_benchmark(plan_on(app.settings.endpoints[0]))
        await wait_for(pilot, lambda: not session.running, "the end")
        rec = session.result.telemetry
        assert rec is not None and rec.interval_s == 0.25
        prom = rec.sources[SourceKind.PROMETHEUS]
        assert (prom.url, prom.reason) == ("http://127.0.0.1:9/metrics", "cannot connect")
        assert rec.sources[SourceKind.OLLAMA_PS].available  # the endpoint's own host
