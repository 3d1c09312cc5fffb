"""Settings: saved endpoints on the left; the endpoint form, the defaults and the theme
on the right; saved to TOML.

Wiring only: :class:`EndpointForm` and :class:`DefaultsForm` are widgets. A settings
file that did not load is never replaced without asking, and its old text is kept as
``<name>.bak``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, OptionList, Select, Static
from textual.widgets.option_list import Option

from ometer_tui.core.api_profile import CustomProfile
from ometer_tui.core.models import Endpoint
from ometer_tui.core.settings import Settings, SettingsError, display_path
from ometer_tui.tui.host import SetupHost, host_of
from ometer_tui.tui.screens.confirm import ConfirmScreen, ask_discard
from ometer_tui.tui.screens.profile_editor import ProfileEditor
from ometer_tui.tui.widgets.defaults_form import DefaultsForm
from ometer_tui.tui.widgets.endpoint_form import EndpointForm, secret_withheld
from ometer_tui.tui.widgets.form import field_row

NEW_OPTION = "__new__"


def replace_question(error: str, path: str) -> str:
    """What saving over a settings file that did not load asks first."""
    return (
        f"The settings file could not be read:\n{error}\n\n"
        f"Saving replaces it with what this screen shows; its current text is kept as "
        f"{path}.bak. Replace it?"
    )


class SettingsScreen(Screen[None]):
    """Endpoints on the left; the endpoint form and the defaults on the right."""

    HELP_TITLE = "Settings"
    AUTO_FOCUS = "#name"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]  # noqa: RUF012 (app.tcss)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="settings.save",
                tooltip="Validate and write the settings file"),
        Binding("ctrl+n", "new_endpoint", "New endpoint", id="settings.new",
                tooltip="Clear the form to add an endpoint"),
        Binding("escape", "close", "Back", id="settings.close",
                tooltip="Back (asks first when there are unsaved changes)"),
    ]  # fmt: skip

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
        self._snapshot: tuple[Any, ...] = ()
        self._saved_theme = ""

    @property
    def omapp(self) -> SetupHost:
        return host_of(self)

    @property
    def endpoint_form(self) -> EndpointForm:
        return self.query_one(EndpointForm)

    @property
    def defaults_form(self) -> DefaultsForm:
        return self.query_one(DefaultsForm)

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="settings-body"):
            with Vertical(id="settings-list"):
                yield Static(Text("Endpoints", style="bold"), classes="panel-title")
                yield OptionList(id="endpoint-list", compact=True)
            with VerticalScroll(id="settings-form", can_focus=False):
                yield EndpointForm()
                yield DefaultsForm()
                themes = sorted(self.app.available_themes)
                yield field_row(
                    "Theme",
                    Select([(t, t) for t in themes], id="theme", allow_blank=False, compact=True),
                    "Applied at once; saved with ctrl+s",
                )
                with Horizontal(classes="form-buttons"):
                    yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True,
                                 action="screen.save")  # fmt: skip
                    yield Button("New endpoint (ctrl+n)", id="new", compact=True,
                                 action="screen.new_endpoint")  # fmt: skip
                    yield Button("Back (esc)", id="close", compact=True, action="screen.close")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        host = self.omapp
        self.sub_title = f"settings · {display_path(host.config_path)}"
        themes = sorted(self.app.available_themes)
        self._saved_theme = host.settings.ui.theme
        self.query_one("#theme", Select).value = (
            self.app.theme if self.app.theme in themes else themes[0]
        )
        self.defaults_form.load(host.settings.defaults, host.settings.telemetry)
        self._refresh_list()
        settings = host.settings
        start = settings.endpoint(self._start_name) if self._start_name else None
        if self._offered is not None:
            self._fill_endpoint(self._offered, editing=None)
        elif start is not None:
            self._fill_endpoint(start, editing=start.name)
        elif not self._start_new and settings.endpoints:
            self._fill_endpoint(settings.endpoints[0], editing=settings.endpoints[0].name)
        else:
            self._fill_endpoint(None, editing=None)
        self.query_one("#name").focus()
        if host.settings_error:
            self.endpoint_form.show_problems([
                "The settings file was not loaded: " + host.settings_error,
                "Saving asks first, then replaces it (its text is kept as a .bak backup).",
            ])  # fmt: skip
        self._snapshot = self._form_state()

    # -------------------------------------------------------------- form fill
    def _refresh_list(self) -> None:
        option_list = self.query_one("#endpoint-list", OptionList)
        option_list.clear_options()
        for endpoint in self.omapp.settings.endpoints:
            option_list.add_option(Option(Text(endpoint.name), id=endpoint.name))
        option_list.add_option(Option(Text("+ new endpoint", style="italic"), id=NEW_OPTION))

    def _fill_endpoint(self, endpoint: Endpoint | None, *, editing: str | None) -> None:
        self.editing = editing
        title = Text()
        if editing is not None:
            title.append("Endpoint ", style="bold")
            title.append(repr(editing))
        elif endpoint is not None:
            title.append("New endpoint ", style="bold")
            title.append("(from the first-launch offer; not saved yet)", style="dim")
        else:
            title.append("New endpoint", style="bold")
        self.endpoint_form.load(endpoint, title=title)
        option_list = self.query_one("#endpoint-list", OptionList)
        try:
            option_list.highlighted = option_list.get_option_index(editing or NEW_OPTION)
        except Exception:
            option_list.highlighted = None

    def _form_state(self) -> tuple[Any, ...]:
        """Everything the user can change, to tell whether there are unsaved edits."""
        theme = self.query_one("#theme", Select).value
        return (self.endpoint_form.state(), self.defaults_form.state(), theme, self.editing)

    @property
    def dirty(self) -> bool:
        return self._form_state() != self._snapshot

    # ---------------------------------------------------------------- actions
    def action_save(self) -> None:
        host = self.omapp
        settings = host.settings
        endpoint: Endpoint | None = None
        ep_problems: list[str] = []
        if self.endpoint_form.has_content():
            endpoint, ep_problems = self.endpoint_form.read()
        form, d_problems = self.defaults_form.read_settings(settings)  # [defaults], [telemetry]
        if endpoint is not None:
            try:
                settings = settings.with_endpoint(endpoint, replace_name=self.editing)
            except ValueError as exc:
                ep_problems.append(str(exc))
            except KeyError:
                settings = settings.with_endpoint(endpoint)
        self.endpoint_form.show_problems(ep_problems)
        self.defaults_form.show_problems(d_problems)
        if ep_problems or d_problems or form is None:
            first = (ep_problems + d_problems)[0]
            self.notify(first, title="Not saved", severity="error", markup=False)
            return
        theme = str(self.query_one("#theme", Select).value)
        settings = replace(
            settings, defaults=form.defaults, telemetry=form.telemetry,
            ui=replace(settings.ui, theme=theme), warnings=list(settings.warnings),
        )  # fmt: skip
        if host.settings_error is None:
            self._write(settings, endpoint, overwrite=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._write(settings, endpoint, overwrite=True)

        question = replace_question(host.settings_error, display_path(host.config_path))
        self.app.push_screen(
            ConfirmScreen(question, title="Replace the settings file?", yes="Replace",
                          danger=True),
            answered,
        )  # fmt: skip

    def _write(self, settings: Settings, endpoint: Endpoint | None, *, overwrite: bool) -> None:
        try:
            path = self.omapp.save_settings(settings, overwrite_unparseable=overwrite)
        except (SettingsError, OSError) as exc:
            self.endpoint_form.show_problems([f"Not saved: {exc}"])
            self.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        self._saved_theme = settings.ui.theme
        self._refresh_list()
        if endpoint is not None:
            self._fill_endpoint(settings.endpoint(endpoint.name), editing=endpoint.name)
        self._snapshot = self._form_state()
        self.notify(f"Saved to {display_path(path)}", markup=False)
        if endpoint is not None and secret_withheld(endpoint):
            self.notify(
                f"{endpoint.name}: a token or API key is set but the URL is plain http to "
                "another host; it will not be sent unless 'Allow insecure http' is on "
                "(or use https://).",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def action_new_endpoint(self) -> None:
        self._confirm_discard(self._start_new_endpoint)

    def _start_new_endpoint(self) -> None:
        self._fill_endpoint(None, editing=None)
        self._snapshot = self._form_state()
        self.query_one("#name").focus()

    def _confirm_discard(self, then: Callable[[], None]) -> None:
        if self.dirty:
            ask_discard(self.app, then)
        else:
            then()

    def action_close(self) -> None:
        def close() -> None:
            if self._saved_theme in self.app.available_themes:
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
            self.query_one("#name").focus()

        self._confirm_discard(load)

    @on(EndpointForm.ProfileWanted)
    def _edit_profile(self, event: EndpointForm.ProfileWanted) -> None:
        event.stop()

        def edited(profile: CustomProfile | None) -> None:
            if profile is not None:  # saved in the editor: into the settings file too
                self.endpoint_form.set_profile(profile)
                self.action_save()

        editor = ProfileEditor(event.profile, endpoint_name=event.endpoint_name)
        self.app.push_screen(editor, edited)

    @on(Select.Changed, "#theme")
    def _theme_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value in self.app.available_themes:
            self.app.theme = event.value
