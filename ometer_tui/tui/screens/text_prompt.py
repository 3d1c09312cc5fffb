"""A reusable one-line question: ``TextPrompt(question, value) -> str | None``."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPrompt(ModalScreen[str | None]):
    """Ask for a line of text; Enter dismisses with it (stripped), Escape with ``None``."""

    HELP_TITLE = "Text prompt"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Close, change nothing"),
    ]

    def __init__(self, question: str, value: str = "", *, title: str = "Label") -> None:
        super().__init__()
        self._question = question
        self._value = value
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            yield Static(Text(self._question), id="prompt-question")
            yield Input(self._value, id="prompt-input")
            yield Static(Text("Enter: keep · Escape: cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
