"""Fixtures for whole-app Pilot tests: a temp config path and the session demo server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, save_settings
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.session import BenchmarkSession
from tests.tui.picker_helpers import FakeResults

SIZE = (120, 36)

AppFactory = Callable[..., OmeterApp]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A settings path that does not exist yet (first launch)."""
    return tmp_path / "config" / "config.toml"


@pytest.fixture
def demo_endpoint(demo_server: DemoServerThread) -> Endpoint:
    """The session demo server as an ordinary saved Ollama endpoint."""
    return Endpoint(name="demo", url=demo_server.url, api=ApiFlavour.OLLAMA)


@pytest.fixture
def demo_config(config_path: Path, demo_endpoint: Endpoint) -> Path:
    """A settings file with one endpoint: the session demo server."""
    save_settings(Settings(endpoints=[demo_endpoint]), config_path)
    return config_path


@pytest.fixture
def make_app(demo_server: DemoServerThread) -> AppFactory:
    """``make_app(path, demo=False)``: the app, using the session demo server whenever the
    built-in demo is needed (never a second server)."""

    def factory(path: Path, *, demo: bool = False) -> OmeterApp:
        return OmeterApp(config_path=path, demo=demo, demo_server_url=demo_server.url)

    return factory


Settle = Callable[[Pilot[None]], Awaitable[None]]


async def _settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the messages they posted land (never sleep)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def settle() -> Settle:
    return _settle


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[BenchmarkPlan]:
    """The plans a run would start, in order (:class:`FakeResults`); nothing runs."""
    import ometer_tui.tui.screens.results as results

    monkeypatch.setattr(results, "ResultsScreen", FakeResults)
    monkeypatch.setattr(BenchmarkSession, "start", lambda self: None)
    FakeResults.plans.clear()
    return FakeResults.plans
