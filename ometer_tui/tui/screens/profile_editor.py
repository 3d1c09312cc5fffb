"""The API profile of a custom endpoint, every field editable:
``ProfileEditor(profile) -> CustomProfile | None``.

Save checks the form with the core (the checks the settings file gets when it loads);
a refused form stays open with every field as typed, its problems listed and the first
field shown. Cancel with unsaved edits asks first.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ometer_tui.core.api_profile import CustomProfile
from ometer_tui.tui.screens.confirm import ask_discard
from ometer_tui.tui.widgets.profile_form import ProfileForm


class ProfileEditor(ModalScreen[CustomProfile | None]):
    """Dismissed with the profile the form describes (Save) or ``None`` (Cancel)."""

    HELP_TITLE = "API profile"
    DEFAULT_CSS = """
    ProfileEditor {
        align: center middle;
    }
    #profile-dialog {
        width: 110;
        max-width: 100%;
        height: 100%;
        padding: 0 1;
        background: $panel;
        border: thick $accent;
    }
    #profile-title {
        height: 1;
    }
    #profile-dialog > .dialog-buttons {
        height: 1;
        align-horizontal: right;
    }
    #profile-dialog > .dialog-buttons Button {
        margin-left: 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="profile.save",
                tooltip="Check the profile and save the settings file"),
        Binding("escape", "cancel", "Cancel", id="profile.cancel",
                tooltip="Close without the edits (asks first when there are some)"),
    ]  # fmt: skip

    def __init__(self, profile: CustomProfile | None, *, endpoint_name: str = "") -> None:
        super().__init__()
        self._profile = profile
        self._endpoint_name = endpoint_name
        self._snapshot: tuple[object, ...] = ()

    @property
    def form(self) -> ProfileForm:
        return self.query_one(ProfileForm)

    def compose(self) -> ComposeResult:
        title = Text("API profile", style="bold")
        if self._endpoint_name:
            title.append(f" of {self._endpoint_name!r}", style="bold")
        title.append(" · tab moves, ←/→ switch tabs", style="dim")
        with Vertical(id="profile-dialog"):
            yield Static(title, id="profile-title")
            yield ProfileForm()
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="profile-save", variant="primary",
                             compact=True, action="screen.save")  # fmt: skip
                yield Button("Cancel (esc)", id="profile-cancel", compact=True,
                             action="screen.cancel")  # fmt: skip

    def on_mount(self) -> None:
        self.form.load(self._profile)
        self._snapshot = self.form.state()
        self.query_one("#p-pick").focus()

    def action_save(self) -> None:
        profile, problems = self.form.read()
        if profile is None:
            first = problems[0] if problems else "the profile is empty"
            self.notify(first, title="Not saved", severity="error", markup=False)
            return
        self.dismiss(profile)

    def action_cancel(self) -> None:
        if self.form.state() == self._snapshot:
            self.dismiss(None)
        else:
            ask_discard(self.app, lambda: self.dismiss(None), "Discard the edits to this profile?")
