"""Whole-app navigation: first launch, endpoints, help, palette, quitting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.demo import process as process_module
from ometer_tui.demo.catalogue import CATALOGUE
from ometer_tui.tui.app import DEMO_ENDPOINT_NAME, LOCAL_OLLAMA, OmeterApp
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.endpoints import EndpointsScreen
from ometer_tui.tui.screens.help import HelpScreen
from ometer_tui.tui.screens.model_picker import ModelPickerScreen
from ometer_tui.tui.screens.settings import SettingsScreen
from ometer_tui.tui.session import BenchmarkSession

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]


def exists(path: Path) -> bool:
    return path.exists()


def read_text(path: Path) -> str:
    return path.read_text()


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rows(screen: Screen[Any], table_id: str) -> list[list[str]]:
    table = screen.query_one(table_id, DataTable)
    # the endpoints' mark column (several endpoints for one benchmark) is left out
    keep = [i for i, key in enumerate(table.columns) if key.value != "mark"]
    return [[str(table.get_row_at(r)[i]) for i in keep] for r in range(table.row_count)]


def static_text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_first_launch_offers_local_ollama_and_demo(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    assert not exists(config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EndpointsScreen)
        table = rows(screen, "#endpoints")
        names = [r[0] for r in table]
        assert names[0].startswith(DEMO_ENDPOINT_NAME)
        assert any(n.startswith(LOCAL_OLLAMA.name) for n in names)
        demo_state = screen.status_of(DEMO_ENDPOINT_NAME)
        assert demo_state is not None and demo_state.ok is True
        assert demo_state.text.plain.startswith("✓")
        assert f"{len(CATALOGUE)} models" in demo_state.text.plain
        # A real Ollama may or may not be running here: only require a verdict.
        local = screen.status_of(LOCAL_OLLAMA.name)
        assert local is not None and local.ok is not None
        if not local.ok:
            assert local.text.plain.startswith("✗")
        banner = static_text(screen, "#banner")
        assert "First launch" in banner
        assert "the built-in demo answers" in banner
        assert "localhost:11434" in banner
    # Nothing was written by just looking.
    assert not exists(config_path)


async def test_pick_endpoint_lists_models_newest_first(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [r[0] for r in rows(app.screen, "#endpoints")] == ["demo"]
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ModelPickerScreen)
        names = [r[1] for r in rows(screen, "#models")]
        expected = [m.name for m in sorted(CATALOGUE, key=lambda m: m.modified_at, reverse=True)]
        assert names[:6] == expected[:6]
        assert set(names) == {m.name for m in CATALOGUE}
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EndpointsScreen)


async def test_demo_mode_puts_the_simulated_endpoint_first(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        names = [r[0] for r in rows(app.screen, "#endpoints")]
        assert names[0].startswith(DEMO_ENDPOINT_NAME) and names[1] == "demo"
        assert isinstance(app.screen, EndpointsScreen)
        assert app.screen.highlighted_name() == DEMO_ENDPOINT_NAME
    # The simulated endpoint is never written to the settings file.
    assert DEMO_ENDPOINT_NAME not in read_text(demo_config)


async def test_demo_process_starts_off_the_ui_thread(
    demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a running demo server the app starts its process in a worker: the
    endpoints screen is up at once with the demo row "starting…" (never checked, never
    picked); the row is checked once the process answers, and the process stops with
    the app."""
    release = threading.Event()
    real = process_module.demo_process

    @contextlib.contextmanager
    def held_demo_process() -> Iterator[process_module.DemoProcess]:
        release.wait(30)  # the worker thread waits here, never the UI
        with real() as started:
            yield started

    monkeypatch.setattr(process_module, "demo_process", held_demo_process)
    app = OmeterApp(config_path=demo_config, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EndpointsScreen)
        names = [r[0] for r in rows(screen, "#endpoints")]
        assert names[0].startswith(DEMO_ENDPOINT_NAME) and names[1] == "demo"
        assert app.demo_starting
        state = screen.status_of(DEMO_ENDPOINT_NAME)
        assert state is not None and state.ok is None and state.text.plain == "starting…"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # still starting: not picked
        release.set()
        # bounded polling: the child process answers within seconds
        for _ in range(600):
            state = screen.status_of(DEMO_ENDPOINT_NAME)
            if state is not None and state.ok is not None:
                break
            await pilot.pause(0.05)
        assert state is not None and state.ok is True, state
        assert not app.demo_starting
        demo = next(e for e in app.all_endpoints() if e.simulated)
        assert demo.url.startswith("http://127.0.0.1:") and not demo.url.endswith(":0")
    port = int(demo.url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_add_demo_endpoint_with_D(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(rows(app.screen, "#endpoints")) == 1
        await pilot.press("D")
        await settle(pilot)
        names = [r[0] for r in rows(app.screen, "#endpoints")]
        assert names[0].startswith(DEMO_ENDPOINT_NAME)
        assert isinstance(app.screen, EndpointsScreen)
        assert app.screen.highlighted_name() == DEMO_ENDPOINT_NAME


async def test_delete_asks_then_removes_from_file(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert len(rows(app.screen, "#endpoints")) == 1
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert rows(app.screen, "#endpoints") == []
    assert "demo" not in read_text(demo_config)


async def test_unreachable_endpoint_shows_reason(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    import socket

    from ometer_tui.core.models import ApiFlavour, Endpoint
    from ometer_tui.core.settings import Settings, save_settings

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = Endpoint(name="dead", url=f"http://127.0.0.1:{port}", api=ApiFlavour.OLLAMA)
    save_settings(Settings(endpoints=[ep]), config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, EndpointsScreen)
        state = app.screen.status_of("dead")
        assert state is not None and state.ok is False
        assert "refused" in state.text.plain
        assert "refused" in static_text(app.screen, "#endpoints-hint")


async def test_unparseable_settings_still_start_and_show_error(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    broken = '[[endpoints]]\nname = "x"\nurl = \n'
    write_text(config_path, broken)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, EndpointsScreen)
        assert rows(app.screen, "#endpoints") == []  # not offered: the file exists
        banner = static_text(app.screen, "#banner")
        assert "Settings file not loaded" in banner
        assert "config.toml" in banner and "line 3" in banner
        # issue 8 defect 14: what it says agrees with the README and the settings
        # screen: saving asks first and keeps a backup (never "save to replace it")
        assert "asks before replacing it" in banner and ".bak" in banner
        assert "save to replace it" not in banner
        assert any("line 3" in n.message for n in app._notifications)
    assert read_text(config_path) == broken


async def test_bad_value_in_settings_names_the_key(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    write_text(config_path, "[defaults]\npasses = 0\n")
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "defaults.passes" in static_text(app.screen, "#banner")


async def test_help_lists_screen_and_app_keys(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(s.render()) for s in app.screen.query(".help-table"))
        for word in ("Re-check", "Delete", "Demo", "Settings", "Quit", "Help"):
            assert word in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EndpointsScreen)


async def test_help_of_the_picker_lists_the_keys_of_its_filter_and_fields(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    # the filter box and the run panel's fields have keys of their own (issue 8
    # defects 12 and 13): help lists them beside the screen's
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ModelPickerScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        groups = [str(s.render()) for s in app.screen.query(".help-group")]
        tables = [str(s.render()) for s in app.screen.query(".help-table")]
        by_group = dict(zip(groups, tables, strict=True))
        assert "To list" in by_group["In the filter box"]
        assert "Select" in by_group["In the filter box"]
        assert "Run" in by_group["In the run panel's fields"]


async def test_command_palette_offers_screen_actions(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"settings")
        await pilot.pause(0.3)  # the palette searches in the background
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)


async def test_settings_key_from_any_screen(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ModelPickerScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)


async def test_q_quits(make_app: AppFactory, demo_config: Path, settle: Settle) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


class BlockingRunner:
    """Stands in for the engine: runs until cancelled, then returns its result."""

    def __init__(self, plan: BenchmarkPlan) -> None:
        self.result = BenchmarkResult(plan=plan, started_at=datetime.now(UTC))
        self.cancelled = threading.Event()

    async def run(self) -> BenchmarkResult:
        while not self.cancelled.is_set():  # noqa: ASYNC110 - set from another thread
            await asyncio.sleep(0.01)
        self.result.cancelled = True
        return self.result

    def cancel(self) -> None:
        self.cancelled.set()


def blocking_session(app: OmeterApp) -> tuple[BenchmarkSession, list[BlockingRunner]]:
    endpoint = Endpoint(name="e", url="http://127.0.0.1:9")
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo("m"),))
    runners: list[BlockingRunner] = []

    def factory(plan: BenchmarkPlan, on_event: Any, log: bool) -> BlockingRunner:
        runners.append(BlockingRunner(plan))
        return runners[-1]

    return BenchmarkSession(app, plan, runner_factory=factory), runners


async def test_quit_asks_while_a_benchmark_runs(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        session, runners = blocking_session(app)
        app.session = session
        session.start()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert session.running
        assert app.return_code is None
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert runners[0].cancelled.is_set()
        assert app.return_code == 0


async def test_quit_asks_before_discarding_a_finished_unexported_result(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        session, _ = blocking_session(app)
        record = RunRecord(model="m", pass_index=1, prompt_index=0, warmup=False, ok=True)
        session.fold.result.models["m"].records.append(record)
        app.session = session
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert app.return_code is None
        session.discard()  # said yes when leaving its results: not asked again
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_keymap_from_settings_rebinds_by_id(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    write_text(config_path, '[ui.keymap]\n"app.help" = "f2"\n')
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(s.render()) for s in app.screen.query(".help-table"))
        assert "^q, q" in text or "ctrl+q, q" in text
