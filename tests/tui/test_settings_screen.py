"""The settings screen: add / edit endpoints, defaults, validation, secrets stay hidden."""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, Static

from ometer_tui.core.secrets import MASK
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.endpoints import EndpointsScreen
from ometer_tui.tui.screens.settings import SettingsScreen

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]
TOKEN = "sk-test-abcdefghijklmnop-0123"


def load_toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text())


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def exists(path: Path) -> bool:
    return path.exists()


def read_text(path: Path) -> str:
    return path.read_text()


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def errors_text(screen: SettingsScreen) -> str:
    return " ".join(str(s.render()) for s in screen.query(".errors"))


async def open_new_form(app: OmeterApp, pilot: Pilot[None], settle: Settle) -> SettingsScreen:
    await settle(pilot)
    await pilot.press("n")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, SettingsScreen)
    assert screen.focused is screen.query_one("#name", Input)
    return screen


async def type_into(pilot: Pilot[None], screen: SettingsScreen, field: str, text: str) -> None:
    widget = screen.query_one(f"#{field}", Input)
    widget.focus()
    await pilot.pause()
    widget.value = ""
    await pilot.press(*text)


async def test_add_endpoint_save_edit_save(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_form(app, pilot, settle)
        await type_into(pilot, screen, "name", "gpu-box")
        await type_into(pilot, screen, "url", "https://gpu-box:11434")
        screen.query_one("#api", Select).value = "ollama"
        await type_into(pilot, screen, "token", TOKEN)
        # Typed into a password field: never on screen.
        assert TOKEN not in app.export_screenshot()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert errors_text(screen).strip() == ""
        data = load_toml(config_path)
        assert data["endpoints"] == [
            {"name": "gpu-box", "url": "https://gpu-box:11434", "api": "ollama", "token": TOKEN}
        ]
        assert file_mode(config_path) == 0o600
        assert any("Saved to" in n.message for n in app._notifications)
        # After saving: the field is empty, the placeholder shows the masked token.
        token_field = screen.query_one("#token", Input)
        assert token_field.value == ""
        assert MASK in token_field.placeholder and TOKEN not in token_field.placeholder
        assert TOKEN not in app.export_screenshot()

        # Edit: change the URL; the empty token field keeps the saved token.
        await type_into(pilot, screen, "url", "https://gpu-box:8443")
        screen.query_one("#read_s", Input).value = "30"
        await pilot.press("ctrl+s")
        await settle(pilot)
        data = load_toml(config_path)
        endpoints = data["endpoints"]
        assert isinstance(endpoints, list) and len(endpoints) == 1
        assert endpoints[0]["url"] == "https://gpu-box:8443"
        assert endpoints[0]["token"] == TOKEN
        assert endpoints[0]["timeouts"] == {"read_s": 30.0}
        assert TOKEN not in app.export_screenshot()

        # Back on the endpoints table: masked token, never the raw one.
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EndpointsScreen)
        assert TOKEN not in app.export_screenshot()
        assert app.settings.endpoint("gpu-box") is not None


async def test_token_env_reference_is_saved_not_resolved(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_form(app, pilot, settle)
        await type_into(pilot, screen, "name", "lab")
        await type_into(pilot, screen, "url", "http://localhost:8000")
        await type_into(pilot, screen, "token_env", "LAB_TOKEN")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert load_toml(config_path)["endpoints"] == [
        {"name": "lab", "url": "http://localhost:8000", "token_env": "LAB_TOKEN"}
    ]


async def test_bad_url_names_the_field(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_form(app, pilot, settle)
        await type_into(pilot, screen, "name", "x")
        await type_into(pilot, screen, "url", "localhost:11434")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "url: scheme must be http or https" in errors_text(screen)
        assert any(n.message.startswith("url:") for n in app._notifications)
        screen.query_one("#url", Input).value = "http://localhost:11434"
        screen.query_one("#total_s", Input).value = "soon"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "timeouts.total_s: 'soon' is not a number" in errors_text(screen)
        screen.query_one("#total_s", Input).value = "600"
        screen.query_one("#d_passes", Input).value = "0"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "passes: must be at least 1" in errors_text(screen)
    assert not exists(config_path)


async def test_duplicate_name_is_refused(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_form(app, pilot, settle)
        await type_into(pilot, screen, "name", "demo")
        await type_into(pilot, screen, "url", "http://localhost:1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "name: an endpoint named 'demo' already exists" in errors_text(screen)


async def test_defaults_and_theme(make_app: AppFactory, demo_config: Path, settle: Settle) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#d_passes", Input).value = "5"
        screen.query_one("#d_temperature", Input).value = ""
        screen.query_one("#theme", Select).value = "nord"
        await pilot.pause()
        assert app.theme == "nord"  # applied at once
        await pilot.press("ctrl+s")
        await settle(pilot)
        data = load_toml(demo_config)
        assert data["defaults"] == {"passes": 5, "temperature": "server"}
        assert data["ui"] == {"theme": "nord"}
        assert app.settings.defaults.passes == 5


async def test_unsaved_changes_ask_before_leaving(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen) and screen.editing == "demo"
        screen.query_one("#url", Input).value = "http://127.0.0.1:9"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen_stack[-1] is screen
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, EndpointsScreen)
    assert "127.0.0.1:9" not in read_text(demo_config)


async def test_saving_over_an_unparseable_file_asks_first(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    broken = "[defaults\npasses = 3\n"
    write_text(config_path, broken)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert "not loaded" in errors_text(screen)
        await type_into(pilot, screen, "name", "local")
        await type_into(pilot, screen, "url", "http://localhost:11434")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert read_text(config_path) == broken  # refused: untouched
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert app.settings_error is None
        status = str(app.screen.query_one("#form-title", Static).render())
        assert "local" in status
    assert load_toml(config_path)["endpoints"] == [
        {"name": "local", "url": "http://localhost:11434"}
    ]
    assert read_text(config_path.with_name("config.toml.bak")) == broken


async def test_an_unchecked_box_is_empty() -> None:
    # issue 8 defect 14: Textual's checkbox draws "▐X▌" checked or not (colour only)
    from textual.app import App, ComposeResult

    from ometer_tui.tui.widgets.form import FormCheckbox

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield FormCheckbox("Allow insecure http", value=False, compact=True)

    app = Host()
    async with app.run_test(size=(60, 5)) as pilot:
        box = app.query_one(FormCheckbox)
        assert box._button.plain == "▐ ▌"
        box.value = True
        await pilot.pause()
        assert box._button.plain == "▐X▌"


async def test_the_insecure_http_box_reads_unchecked_on_screen(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_new_form(app, pilot, settle)
        box = screen.query_one("#allow_insecure_http", Checkbox)
        assert not box.value
        assert box.render().plain.startswith("▐ ▌ Allow insecure http")


async def test_remove_a_saved_literal_token_and_edit_the_endpoint_defaults(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    # issue 8 defect 20: a key pasted by mistake can be taken out from the form; the
    # endpoint's own [endpoints.defaults] are edited in the form and start its runs.
    from ometer_tui.core.models import Endpoint
    from ometer_tui.core.secrets import Secret, TokenRef
    from ometer_tui.core.settings import Settings, save_settings

    ep = Endpoint(name="hosted", url="https://llm.example.com", api=None,
                  token=TokenRef(value=Secret(TOKEN)),
                  api_key=TokenRef(value=Secret(TOKEN + "-key")))  # fmt: skip
    save_settings(Settings(endpoints=[ep]), config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        remove = screen.query_one("#token_remove", Checkbox)
        assert remove.display and not remove.value
        remove.value = True
        screen.query_one("#e_concurrency", Input).value = "8"
        screen.query_one("#e_passes", Input).value = "5"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert errors_text(screen).strip() == ""
        # the form now shows no saved token, so nothing left to remove
        assert not screen.query_one("#token_remove", Checkbox).display
        assert screen.query_one("#api_key_remove", Checkbox).display
        assert TOKEN not in app.export_screenshot()
    data = load_toml(config_path)
    endpoints = data["endpoints"]
    assert isinstance(endpoints, list)
    (saved,) = endpoints
    assert "token" not in saved and saved["api_key"] == TOKEN + "-key"
    assert saved["defaults"] == {"passes": 5, "concurrency": 8}
    assert TOKEN not in read_text(config_path).replace(TOKEN + "-key", "")


async def test_an_empty_endpoint_default_falls_back_to_the_global_one(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        field = screen.query_one("#e_warmup", Input)
        assert field.value == "" and field.placeholder == "global"
        field.value = "two"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "defaults.warmup: 'two' is not a whole number" in errors_text(screen)
