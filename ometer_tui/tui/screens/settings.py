"""Settings: the endpoint form (add / edit) and the global defaults, saved to TOML.

Tokens are never shown: password inputs start empty with the existing token masked as
the placeholder, and an empty token input keeps the saved token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from ometer_tui.core.models import ApiFlavour, Endpoint, TimeoutPolicy
from ometer_tui.core.secrets import SENSITIVE_HEADERS, Secret, TokenRef, redact_headers
from ometer_tui.core.settings import (
    Defaults,
    Settings,
    SettingsError,
    display_path,
    validate_defaults,
    validate_endpoint,
)
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.widgets.cells import token_text

if TYPE_CHECKING:
    from ometer_tui.tui.app import OmeterApp

T = TypeVar("T", int, float)

NEW_OPTION = "__new__"
FLAVOURS: list[tuple[str, str]] = [("auto (detect)", "auto"), ("ollama", "ollama"),
                                   ("openai", "openai")]


def parse_headers(text: str, existing: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """``Name: value`` per line. A sensitive header shown masked keeps its saved value."""
    headers: dict[str, str] = {}
    problems: list[str] = []
    shown = redact_headers(existing)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            problems.append(f"headers: line {number}: expected 'Name: value'")
            continue
        if name.lower() in SENSITIVE_HEADERS and name in existing and value == shown.get(name):
            value = existing[name]
        headers[name] = value
    return headers, problems


class SettingsScreen(Screen[None]):
    """Endpoints on the left; the endpoint form and the defaults on the right."""

    HELP_TITLE = "Settings"
    AUTO_FOCUS = "#name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="settings.save",
                tooltip="Validate and write the settings file"),
        Binding("ctrl+n", "new_endpoint", "New endpoint", id="settings.new",
                tooltip="Clear the form to add an endpoint"),
        Binding("escape", "close", "Back", id="settings.close",
                tooltip="Back (asks first when there are unsaved changes)"),
    ]

    def __init__(
        self,
        *,
        endpoint_name: str | None = None,
        new: bool = False,
        offered: Endpoint | None = None,
    ) -> None:
        super().__init__()
        self._start_name = endpoint_name
        self._start_new = new
        self._offered = offered
        #: name of the saved endpoint the form edits (None: a new endpoint)
        self.editing: str | None = None
        self._base: Endpoint | None = None  # what the form was filled from
        self._snapshot: tuple[Any, ...] = ()
        self._saved_theme = ""

    @property
    def omapp(self) -> OmeterApp:
        return self.app  # type: ignore[return-value]

    # ----------------------------------------------------------------- layout
    @staticmethod
    def _row(label: str, widget: Any, tooltip: str = "") -> Horizontal:
        if tooltip:
            widget.tooltip = tooltip
        return Horizontal(Label(label, classes="field-name"), widget, classes="field-row")

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="settings-body"):
            with Vertical(id="settings-list"):
                yield Static(Text("Endpoints", style="bold"), classes="panel-title")
                yield OptionList(id="endpoint-list", compact=True)
            with VerticalScroll(id="settings-form"):
                yield Static(id="form-title", classes="panel-title")
                yield self._row("Name", Input(id="name", compact=True))
                yield self._row("URL", Input(id="url", compact=True,
                                             placeholder="http://localhost:11434"))
                yield self._row("API", Select(FLAVOURS, id="api", value="auto",
                                              allow_blank=False, compact=True))
                yield self._row("Token", Input(id="token", password=True, compact=True),
                                "Bearer token; empty keeps the saved one")
                yield self._row("Token env", Input(id="token_env", compact=True,
                                                   placeholder="e.g. MY_TOKEN"),
                                "Read the token from this environment variable instead")
                yield self._row("Key header", Input(id="api_key_header", compact=True,
                                                    value="X-API-Key"))
                yield self._row("API key", Input(id="api_key", password=True, compact=True),
                                "Sent in the key header; empty keeps the saved one")
                yield self._row("Key env", Input(id="api_key_env", compact=True),
                                "Read the API key from this environment variable")
                yield Label("Extra headers (Name: value per line)", classes="field-label")
                yield TextArea(id="headers", compact=True, tab_behavior="focus")
                yield self._row("Connect s", Input(id="connect_s", compact=True))
                yield self._row("Read s", Input(id="read_s", compact=True),
                                "Longest silence allowed between two chunks")
                yield self._row("Total s", Input(id="total_s", compact=True))
                yield Checkbox("Allow insecure http (tokens over plain HTTP)",
                               id="allow_insecure_http", compact=True)
                yield Static(id="endpoint-errors", classes="errors")
                yield Static(Text("Defaults for every run", style="bold"),
                             classes="panel-title")
                yield self._row("Passes", Input(id="d_passes", compact=True))
                yield self._row("Warm-up", Input(id="d_warmup", compact=True))
                yield self._row("Temperature", Input(id="d_temperature", compact=True,
                                                     placeholder="server default"),
                                "0..2; empty: send none (the server's default)")
                yield self._row("Max tokens", Input(id="d_max_tokens", compact=True))
                yield self._row("Concurrency", Input(id="d_concurrency", compact=True))
                yield self._row("Models ∥", Input(id="d_parallel_models", compact=True),
                                "Models benchmarked at the same time")
                yield Label("Prompts (one per line)", classes="field-label")
                yield TextArea(id="d_prompts", compact=True, tab_behavior="focus",
                               soft_wrap=True)
                themes = sorted(self.app.available_themes)
                yield self._row("Theme", Select([(t, t) for t in themes], id="theme",
                                                allow_blank=False, compact=True),
                                "Applied at once; saved with ctrl+s")
                yield Static(id="defaults-errors", classes="errors")
                with Horizontal(classes="form-buttons"):
                    yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                    yield Button("New endpoint (ctrl+n)", id="new", compact=True)
                    yield Button("Back (esc)", id="close", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"settings · {display_path(self.omapp.config_path)}"
        themes = sorted(self.app.available_themes)
        theme = self.query_one("#theme", Select)
        self._saved_theme = self.omapp.settings.ui.theme
        current = self.app.theme if self.app.theme in themes else themes[0]
        theme.value = current
        self._fill_defaults(self.omapp.settings.defaults)
        self._refresh_list()
        settings = self.omapp.settings
        start = settings.endpoint(self._start_name) if self._start_name else None
        if self._offered is not None:
            self._fill_endpoint(self._offered, editing=None)
        elif start is not None:
            self._fill_endpoint(start, editing=start.name)
        elif not self._start_new and settings.endpoints:
            self._fill_endpoint(settings.endpoints[0], editing=settings.endpoints[0].name)
        else:
            self._fill_endpoint(None, editing=None)
        for errors in self.query(".errors"):
            errors.display = False
        self.query_one("#name", Input).focus()
        if self.omapp.settings_error:
            self._show_errors("#endpoint-errors", [
                "The settings file was not loaded: " + self.omapp.settings_error,
                "Saving replaces it (the old file is kept as .bak).",
            ])
        self._snapshot = self._form_state()

    # -------------------------------------------------------------- form fill
    def _input(self, field_id: str) -> Input:
        return self.query_one(f"#{field_id}", Input)

    def _refresh_list(self) -> None:
        option_list = self.query_one("#endpoint-list", OptionList)
        option_list.clear_options()
        for endpoint in self.omapp.settings.endpoints:
            option_list.add_option(Option(Text(endpoint.name), id=endpoint.name))
        option_list.add_option(Option(Text("+ new endpoint", style="italic"), id=NEW_OPTION))

    def _highlight_in_list(self, name: str | None) -> None:
        option_list = self.query_one("#endpoint-list", OptionList)
        try:
            option_list.highlighted = option_list.get_option_index(name or NEW_OPTION)
        except Exception:
            option_list.highlighted = None

    def _fill_endpoint(self, endpoint: Endpoint | None, *, editing: str | None) -> None:
        self.editing = editing
        self._base = endpoint
        ep = endpoint or Endpoint(name="", url="")
        title = Text()
        if editing is not None:
            title.append("Endpoint ", style="bold")
            title.append(repr(editing))
        elif endpoint is not None:
            title.append("New endpoint ", style="bold")
            title.append("(from the first-launch offer; not saved yet)", style="dim")
        else:
            title.append("New endpoint", style="bold")
        self.query_one("#form-title", Static).update(title)
        self._input("name").value = ep.name
        self._input("url").value = ep.url
        self.query_one("#api", Select).value = ep.api.value if ep.api else "auto"
        token = self._input("token")
        token.value = ""
        token.placeholder = self._secret_placeholder(ep.token)
        self._input("token_env").value = (ep.token.env or "") if ep.token else ""
        self._input("api_key_header").value = ep.api_key_header
        key = self._input("api_key")
        key.value = ""
        key.placeholder = self._secret_placeholder(ep.api_key)
        self._input("api_key_env").value = (ep.api_key.env or "") if ep.api_key else ""
        self.query_one("#headers", TextArea).text = "\n".join(
            f"{k}: {v}" for k, v in redact_headers(ep.headers).items()
        )
        self._input("connect_s").value = f"{ep.timeouts.connect_s:g}"
        self._input("read_s").value = f"{ep.timeouts.read_s:g}"
        self._input("total_s").value = f"{ep.timeouts.total_s:g}"
        self.query_one("#allow_insecure_http", Checkbox).value = ep.allow_insecure_http
        self._highlight_in_list(editing)
        errors = self.query_one("#endpoint-errors", Static)
        errors.update("")
        errors.display = False

    @staticmethod
    def _secret_placeholder(ref: TokenRef | None) -> str:
        if ref is not None and ref.value is not None:
            return f"{token_text(ref)} saved; type to replace"
        return "none"

    def _fill_defaults(self, defaults: Defaults) -> None:
        for name in ("passes", "warmup", "temperature", "max_tokens", "concurrency",
                     "parallel_models"):
            value = getattr(defaults, name)
            self._input(f"d_{name}").value = "" if value is None else f"{value:g}" if isinstance(
                value, float) else str(value)
        self.query_one("#d_prompts", TextArea).text = "\n".join(defaults.prompts)

    def _form_state(self) -> tuple[Any, ...]:
        """Everything the user can change, to tell whether there are unsaved edits."""
        values: list[Any] = [w.value for w in self.query(Input)]
        values += [w.text for w in self.query(TextArea)]
        values += [self.query_one("#api", Select).value, self.query_one("#theme", Select).value]
        values.append(self.query_one("#allow_insecure_http", Checkbox).value)
        values.append(self.editing)
        return tuple(values)

    @property
    def dirty(self) -> bool:
        return self._form_state() != self._snapshot

    # ----------------------------------------------------------- form reading
    def _show_errors(self, selector: str, problems: list[str]) -> None:
        widget = self.query_one(selector, Static)
        widget.update(Text("\n".join(problems), style="red"))
        widget.display = bool(problems)

    def _number(
        self, field_id: str, kind: Callable[[str], T], label: str, problems: list[str]
    ) -> T | None:
        raw = self._input(field_id).value.strip()
        if not raw:
            return None
        try:
            return kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            problems.append(f"{label}: {raw!r} is not {what}")
            return None

    def _token_ref(
        self, field_id: str, env_id: str, existing: TokenRef | None, key: str,
        problems: list[str]
    ) -> TokenRef | None:
        field = self._input(field_id)
        secret = Secret(field.value.strip()) if field.value.strip() else None
        env = self._input(env_id).value.strip()
        if secret is not None and env:
            problems.append(f"{key}: give a {key} or an environment variable name, not both")
            return None
        if secret is not None:
            return TokenRef(value=secret)
        if env:
            return TokenRef(env=env)
        if existing is not None and existing.value is not None:
            return existing  # empty input: keep the saved literal
        return None

    def _endpoint_has_content(self) -> bool:
        return self.editing is not None or self._base is not None or bool(
            self._input("name").value.strip() or self._input("url").value.strip()
        )

    def read_endpoint(self) -> tuple[Endpoint | None, list[str]]:
        problems: list[str] = []
        base = self._base or Endpoint(name="", url="")
        api_value = self.query_one("#api", Select).value
        api = None if api_value in ("auto", Select.BLANK) else ApiFlavour(str(api_value))
        token = self._token_ref("token", "token_env", base.token, "token", problems)
        api_key = self._token_ref("api_key", "api_key_env", base.api_key, "api_key", problems)
        headers, header_problems = parse_headers(
            self.query_one("#headers", TextArea).text, base.headers
        )
        problems += header_problems
        timeouts = TimeoutPolicy()
        connect = self._number("connect_s", float, "timeouts.connect_s", problems)
        read = self._number("read_s", float, "timeouts.read_s", problems)
        total = self._number("total_s", float, "timeouts.total_s", problems)
        timeouts = TimeoutPolicy(
            connect_s=timeouts.connect_s if connect is None else connect,
            read_s=timeouts.read_s if read is None else read,
            total_s=timeouts.total_s if total is None else total,
        )
        endpoint = replace(
            base,
            name=self._input("name").value.strip(),
            url=self._input("url").value.strip(),
            api=api,
            token=token,
            api_key=api_key,
            api_key_header=self._input("api_key_header").value.strip() or "X-API-Key",
            headers=headers,
            timeouts=timeouts,
            allow_insecure_http=self.query_one("#allow_insecure_http", Checkbox).value,
            simulated=False,
        )
        problems += validate_endpoint(endpoint)
        return (None if problems else endpoint), problems

    def read_defaults(self) -> tuple[Defaults | None, list[str]]:
        problems: list[str] = []
        base = self.omapp.settings.defaults

        def whole(name: str) -> int:
            value = self._number(f"d_{name}", int, name, problems)
            if value is None:
                problems.append(f"{name}: must not be empty")
                return int(getattr(base, name))
            return value

        defaults = replace(
            base,
            passes=whole("passes"),
            warmup=whole("warmup"),
            temperature=self._number("d_temperature", float, "temperature", problems),
            max_tokens=whole("max_tokens"),
            concurrency=whole("concurrency"),
            parallel_models=whole("parallel_models"),
            prompts=tuple(
                line.strip()
                for line in self.query_one("#d_prompts", TextArea).text.splitlines()
                if line.strip()
            ),
        )
        problems += validate_defaults(defaults)
        return (None if problems else defaults), problems

    # ---------------------------------------------------------------- actions
    def action_save(self) -> None:
        app = self.omapp
        settings = app.settings
        endpoint: Endpoint | None = None
        ep_problems: list[str] = []
        if self._endpoint_has_content():
            endpoint, ep_problems = self.read_endpoint()
        defaults, d_problems = self.read_defaults()
        if endpoint is not None:
            try:
                settings = settings.with_endpoint(endpoint, replace_name=self.editing)
            except ValueError as exc:
                ep_problems.append(str(exc))
            except KeyError:
                settings = settings.with_endpoint(endpoint)
        self._show_errors("#endpoint-errors", ep_problems)
        self._show_errors("#defaults-errors", d_problems)
        if ep_problems or d_problems or defaults is None:
            first = (ep_problems + d_problems)[0]
            self.notify(first, title="Not saved", severity="error", markup=False)
            return
        theme = str(self.query_one("#theme", Select).value)
        settings = replace(
            settings, defaults=defaults, ui=replace(settings.ui, theme=theme),
            warnings=list(settings.warnings),
        )
        if app.settings_error is not None:
            question = (
                f"The settings file could not be read:\n{app.settings_error}\n\n"
                "Saving replaces it with what this screen shows (the old file is kept "
                "as a .bak backup). Replace it?"
            )

            def answered(yes: bool | None) -> None:
                if yes:
                    self._write(settings, endpoint, overwrite=True)

            self.app.push_screen(
                ConfirmScreen(question, title="Replace the settings file?", yes="Replace",
                              danger=True),
                answered,
            )
            return
        self._write(settings, endpoint, overwrite=False)

    def _write(self, settings: Settings, endpoint: Endpoint | None, *, overwrite: bool) -> None:
        app = self.omapp
        try:
            path = app.save_settings(settings, overwrite_unparseable=overwrite)
        except (SettingsError, OSError) as exc:
            self._show_errors("#endpoint-errors", [f"Not saved: {exc}"])
            self.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        self._saved_theme = settings.ui.theme
        self._refresh_list()
        if endpoint is not None:
            saved = settings.endpoint(endpoint.name)
            self._fill_endpoint(saved, editing=endpoint.name)
        self._snapshot = self._form_state()
        self.notify(f"Saved to {display_path(path)}", markup=False)
        if endpoint is not None and self._plain_http_with_secret(endpoint):
            self.notify(
                f"{endpoint.name}: a token or API key is set but the URL is plain http to "
                "another host; it will not be sent unless 'Allow insecure http' is on "
                "(or use https://).",
                severity="warning",
                timeout=10,
                markup=False,
            )

    @staticmethod
    def _plain_http_with_secret(endpoint: Endpoint) -> bool:
        has_secret = any(
            ref is not None and ref.is_set for ref in (endpoint.token, endpoint.api_key)
        )
        return (
            has_secret
            and endpoint.origin[0] == "http"
            and not endpoint.is_loopback
            and not endpoint.allow_insecure_http
        )

    def action_new_endpoint(self) -> None:
        self._confirm_discard(lambda: self._start_new_endpoint())

    def _start_new_endpoint(self) -> None:
        self._fill_endpoint(None, editing=None)
        self._snapshot = self._form_state()
        self._input("name").focus()

    def _confirm_discard(self, then: Callable[[], None]) -> None:
        if not self.dirty:
            then()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(
            ConfirmScreen("Discard the unsaved changes in this form?", title="Unsaved changes",
                          yes="Discard", no="Keep editing", danger=True),
            answered,
        )

    def action_close(self) -> None:
        def close() -> None:
            if self.app.theme != self._saved_theme and self._saved_theme in (
                self.app.available_themes
            ):
                self.app.theme = self._saved_theme
            self.app.pop_screen()

        self._confirm_discard(close)

    @on(OptionList.OptionSelected, "#endpoint-list")
    def _endpoint_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id
        if option_id == NEW_OPTION:
            self.action_new_endpoint()
            return
        endpoint = self.omapp.settings.endpoint(option_id or "")
        if endpoint is None or endpoint.name == self.editing:
            return

        def load() -> None:
            self._fill_endpoint(endpoint, editing=endpoint.name)
            self._snapshot = self._form_state()
            self._input("name").focus()

        self._confirm_discard(load)

    @on(Select.Changed, "#theme")
    def _theme_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value in self.app.available_themes:
            self.app.theme = event.value

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {"save": self.action_save, "new": self.action_new_endpoint,
                   "close": self.action_close}
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

