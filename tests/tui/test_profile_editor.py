"""The settings screen picks a custom API profile, shows every field, edits and saves it
(issue #14 §1, §2, §6); per-endpoint drop_unsupported and truncate."""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static, TextArea

from ometer_tui.core.api.custom_profile import BUILTIN_PROFILES, builtin_profile
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import Settings, load_settings, save_settings, settings_to_toml
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.profile_editor import ProfileEditor
from ometer_tui.tui.screens.settings import SettingsScreen
from ometer_tui.tui.widgets.endpoint_form import EndpointForm
from ometer_tui.tui.widgets.profile_form import ProfileForm, field_id

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]
KEY = "llm-api-key-0123456789"


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _exists(path: Path) -> bool:
    return path.exists()


def _text(path: Path) -> str:
    return path.read_text()


def _screen(app: OmeterApp) -> object:
    return app.screen


def _llm_api_endpoint() -> Endpoint:
    profile = builtin_profile("llm-api")
    assert profile is not None
    return Endpoint(
        name="llmapi",
        url="http://127.0.0.1:9",
        api=ApiFlavour.CUSTOM,
        custom=replace(profile, name="llmapi"),
        token=TokenRef(value=Secret(KEY)),
    )


@pytest.fixture
def custom_config(config_path: Path) -> Path:
    save_settings(Settings(endpoints=[_llm_api_endpoint()]), config_path)
    return config_path


async def _settings(app: OmeterApp, pilot: Pilot[None], settle: Settle) -> SettingsScreen:
    await settle(pilot)
    app.push_screen(SettingsScreen(endpoint_name="llmapi"))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SettingsScreen)
    return screen


async def _editor(app: OmeterApp, pilot: Pilot[None], settle: Settle) -> ProfileEditor:
    """The settings screen, then the profile editor opened from the keyboard."""
    screen = await _settings(app, pilot, settle)
    screen.query_one("#api").focus()
    await pilot.press("tab")  # API -> the profile's edit button
    assert app.focused is screen.query_one("#edit_profile")
    await pilot.press("enter")
    await settle(pilot)
    editor = app.screen
    assert isinstance(editor, ProfileEditor)
    return editor


def _value(screen: object, field: str) -> str:
    from textual.dom import DOMNode

    assert isinstance(screen, DOMNode)
    widget = screen.query_one(f"#{field}")
    if isinstance(widget, TextArea):
        return widget.text
    assert isinstance(widget, Input | Select)
    return str(widget.value)


def _set(screen: ProfileEditor, field: str, text: str) -> None:
    widget = screen.query_one(f"#{field}")
    if isinstance(widget, TextArea):
        widget.text = text
    else:
        assert isinstance(widget, Input | Select)
        widget.value = text


def _errors(screen: ProfileEditor) -> str:
    return str(screen.query_one("#profile-errors", Static).render())


async def test_a_custom_endpoint_opens_in_settings_with_its_profile(
    make_app: AppFactory, custom_config: Path, settle: Settle
) -> None:
    """It used to crash: the API select had no 'custom' choice."""
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _settings(app, pilot, settle)
        assert screen.query_one("#api", Select).value == "custom"
        summary = str(screen.query_one("#profile-summary", Static).render())
        assert "llm-api" in summary and "POST /text_model/chat/stream (text)" in summary
        assert screen.query_one("#profile-row").display
        # another flavour: no profile row
        screen.query_one("#api", Select).value = "ollama"
        await pilot.pause()
        assert not screen.query_one("#profile-row").display


async def test_editor_shows_every_field_picks_a_builtin_edits_and_saves(
    make_app: AppFactory, custom_config: Path, settle: Settle
) -> None:
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        editor = await _editor(app, pilot, settle)
        # every field of the llm-api profile, per workload
        assert _value(editor, "p-pick") == "llm-api"
        assert _value(editor, "p-token_header") == "X-API-Key"
        assert _value(editor, "p-error_pointer") == "/detail"
        assert _value(editor, "p-models") == "text_model=chat, image_model=vision"
        assert _value(editor, "chat-path") == "/text_model/chat/stream"
        assert _value(editor, "chat-method") == "POST"
        assert _value(editor, "chat-mode") == "text"
        assert '"messages": "{messages}"' in _value(editor, "chat-body")
        assert _value(editor, "vision-form") == "prompt: {prompt}\ntemperature: {temperature}"
        assert _value(editor, "vision-file_field") == "image"
        assert _value(editor, "completion-path") == ""
        # pick tgi: every field filled from it
        editor.query_one("#p-pick", Select).value = "tgi"
        await pilot.pause()
        assert _value(editor, "chat-path") == "/generate_stream"
        assert _value(editor, "chat-mode") == "sse"
        assert _value(editor, "chat-text") == "/token/text"
        assert _value(editor, "chat-output_tokens") == "/details/generated_tokens"
        assert _value(editor, "p-models_path") == "/info"
        assert _value(editor, "p-models_pointer") == "/model_id"
        assert _value(editor, "vision-path") == ""
        # edit, then save from the keyboard: the settings file is written
        _set(editor, "chat-path", "/v2/generate_stream")
        _set(editor, "chat-reasoning", "/token/thinking")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        assert not app.screen.dirty
    data = _toml(custom_config)
    entry = data["endpoints"][0]
    assert entry["api"] == "custom" and entry["token"] == KEY
    assert entry["custom"]["chat"]["path"] == "/v2/generate_stream"
    assert entry["custom"]["chat"]["reasoning"] == "/token/thinking"
    assert entry["custom"]["models_path"] == "/info"
    assert "vision" not in entry["custom"]
    # the file reads back to what was saved, and writes back to the same text
    settings = load_settings(custom_config)
    endpoint = settings.endpoint("llmapi")
    assert endpoint is not None and endpoint.custom is not None
    tgi = BUILTIN_PROFILES["tgi"]
    chat = replace(
        tgi.routes["chat"],
        path="/v2/generate_stream",
        pointers=replace(tgi.routes["chat"].pointers, reasoning="/token/thinking"),
    )
    assert endpoint.custom == replace(tgi, name="llmapi", routes={**tgi.routes, "chat": chat})
    assert settings_to_toml(settings) == _text(custom_config)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("chat-path", "text_model/chat/stream", "custom.chat.path: must start with /"),
        ("chat-text", "token/text", "custom.chat.text: 'token/text' is not a JSON pointer"),
        ("chat-done", "/a~2b", "custom.chat.done: '/a~2b': '~' must be followed by 0 or 1"),
        ("p-error_pointer", "detail", "custom.error_pointer: 'detail' is not a JSON pointer"),
        ("chat-body", '{"q": "{prompt}", "x": "{bogus}"}', "custom.chat.body: unknown "
         "placeholder {bogus}"),
        ("chat-body", '{"q": ', "custom.chat.body: not JSON"),
        ("vision-form", "prompt: {promt}", "custom.vision.form: unknown placeholder {promt}"),
        ("p-models", "text_model=chat, image_model=video", "custom.models.image_model: "
         "expected one of chat, completion, vision, embedding"),
        ("p-models_path", "info", "custom.models_path: must start with /"),
    ],
)  # fmt: skip
async def test_a_refused_profile_names_the_field_keeps_the_form_and_writes_nothing(
    make_app: AppFactory,
    custom_config: Path,
    settle: Settle,
    field: str,
    value: str,
    expected: str,
) -> None:
    before = _bytes(custom_config)
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        editor = await _editor(app, pilot, settle)
        _set(editor, field, value)
        _set(editor, "chat-reasoning", "/r")  # another edit, to be kept too
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is editor  # still open
        assert expected in _errors(editor)
        assert any(n.message.startswith(expected[:20]) for n in app._notifications)
        # nothing typed is lost; the field is marked and shown
        assert _value(editor, field) == value
        assert _value(editor, "chat-reasoning") == "/r"
        bad = editor.query_one(f"#{field}")
        assert bad.has_class("-invalid") and app.focused is bad
        assert _bytes(custom_config) == before
        # corrected: saved
        editor.form.load(builtin_profile("llm-api"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)


async def test_cancel_with_edits_asks_and_changes_nothing(
    make_app: AppFactory, custom_config: Path, settle: Settle
) -> None:
    before = _bytes(custom_config)
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        editor = await _editor(app, pilot, settle)
        await pilot.press("escape")  # no edits: closes at once
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        editor = await _editor(app, pilot, settle)
        _set(editor, "chat-path", "/other")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep editing
        await settle(pilot)
        assert _screen(app) is editor and _value(editor, "chat-path") == "/other"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SettingsScreen) and not screen.dirty
        assert screen.endpoint_form.profile == _llm_api_endpoint().custom
    assert _bytes(custom_config) == before


async def test_custom_without_a_profile_is_refused_then_a_builtin_is_picked(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(SettingsScreen(new=True))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#name", Input).value = "gw"
        screen.query_one("#url", Input).value = "http://localhost:8080"
        screen.query_one("#api", Select).value = "custom"
        await pilot.press("ctrl+s")
        await settle(pilot)
        errors = str(screen.query_one("#endpoint-errors", Static).render())
        assert 'custom: api = "custom" needs a profile' in errors
        assert not _exists(config_path)
        screen.query_one("#edit_profile").focus()
        await pilot.press("enter")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, ProfileEditor)
        assert _value(editor, "p-pick") == "custom" and _value(editor, "chat-path") == ""
        await pilot.press("ctrl+s")  # an empty profile: refused, naming the route
        await settle(pilot)
        assert "custom: no route" in _errors(editor)
        assert app.focused is editor.query_one("#chat-path")
        editor.query_one("#p-pick", Select).value = "llm-api-json"
        await pilot.pause()
        editor.query_one("#profile-save", Button).press()
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
    entry = _toml(config_path)["endpoints"][0]
    assert entry["api"] == "custom"
    assert entry["custom"]["chat"]["path"] == "/text_model/chat/completion"
    assert entry["custom"]["chat"]["mode"] == "json"


async def test_drop_unsupported_and_truncate_are_edited_per_endpoint(
    make_app: AppFactory, custom_config: Path, settle: Settle
) -> None:
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _settings(app, pilot, settle)
        assert screen.query_one("#truncate", Select).value == "none"
        screen.query_one("#drop_unsupported").focus()
        await pilot.press("space")
        screen.query_one("#truncate", Select).value = "middle"
        assert screen.dirty
        await pilot.press("ctrl+s")
        await settle(pilot)
        entry = _toml(custom_config)["endpoints"][0]
        assert entry["drop_unsupported"] is True and entry["truncate"] == "middle"
        endpoint = app.settings.endpoint("llmapi")
        assert endpoint is not None and endpoint.truncate == "middle"
        assert endpoint.drop_unsupported
        # back to none: the keys leave the file
        screen.query_one("#truncate", Select).value = "none"
        screen.query_one("#drop_unsupported").focus()
        await pilot.press("space")
        screen.query_one("#save", Button).press()  # the button runs the same action
        await settle(pilot)
    entry = _toml(custom_config)["endpoints"][0]
    assert "drop_unsupported" not in entry and "truncate" not in entry


@pytest.mark.parametrize(
    ("line", "bad", "expected"),
    [
        ('path = "/text_model/chat/stream"', 'path = "text_model/chat/stream"',
         "endpoints[0].custom.chat.path: must start with /"),
        ('mode = "text"', 'mode = "websocket"',
         "endpoints[0].custom.chat.mode: expected one of sse, ndjson, text, json"),
        ('error_pointer = "/detail"', 'error_pointer = "detail"',
         "endpoints[0].custom.error_pointer: 'detail' is not a JSON pointer"),
    ],
)  # fmt: skip
async def test_a_bad_profile_in_the_file_names_the_field_and_the_app_starts(
    make_app: AppFactory, custom_config: Path, settle: Settle, line: str, bad: str, expected: str
) -> None:
    from ometer_tui.tui.screens.endpoints import EndpointsScreen

    text = _text(custom_config)
    assert line in text
    custom_config.write_text(text.replace(line, bad, 1))  # noqa: ASYNC240
    app = make_app(custom_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, EndpointsScreen)
        assert app.settings_error is not None and expected in app.settings_error
        banner = str(app.screen.query_one("#banner", Static).render())
        assert "Settings file not loaded" in banner
    assert _text(custom_config) == text.replace(line, bad, 1)  # never replaced unasked


# ------------------------------------------------------------------ the widget alone
class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ProfileForm()


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
async def test_every_builtin_profile_reads_back_from_the_form(name: str) -> None:
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        form = app.query_one(ProfileForm)
        form.load(BUILTIN_PROFILES[name])
        await pilot.pause()
        assert _value(app.screen, "p-pick") == name
        profile, problems = form.read()
        assert problems == []
        assert profile is not None and replace(profile, name=name) == BUILTIN_PROFILES[name]


async def test_a_masked_profile_header_keeps_its_value() -> None:
    profile = replace(
        BUILTIN_PROFILES["tgi"], headers={"Authorization": "Bearer sk-0123456789abcdef"}
    )
    app = _Host()
    async with app.run_test(size=SIZE) as pilot:
        form = app.query_one(ProfileForm)
        form.load(profile)
        await pilot.pause()
        shown = _value(app.screen, "p-headers")
        assert "sk-0123456789abcdef" not in shown and shown.startswith("Authorization: ")
        read, problems = form.read()
        assert problems == [] and read is not None
        assert read.headers == profile.headers


def test_problem_keys_map_to_fields() -> None:
    assert field_id("custom.chat.path: must start with /") == "chat-path"
    assert field_id("custom.vision: expected a table") == "vision-path"
    assert field_id("custom.models.image_model: expected ...") == "p-models"
    assert field_id("custom: no route (add ...)") == "chat-path"
    assert field_id("url: must not be empty") is None


async def test_endpoint_form_reads_back_a_custom_endpoint() -> None:
    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield EndpointForm()

    endpoint = replace(_llm_api_endpoint(), drop_unsupported=True, truncate="start")
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        form = app.query_one(EndpointForm)
        form.load(endpoint, title=Text("an endpoint"))
        await pilot.pause()
        read, problems = form.read()
    assert problems == []
    assert read == endpoint
