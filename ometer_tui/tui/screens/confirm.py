"""A reusable yes/no question: ``ConfirmScreen(question) -> bool``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask a question; dismiss with ``True`` (yes) or ``False`` (no / escape)."""

    HELP_TITLE = "Confirm"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Answer no"),
        Binding("left,right", "app.focus_next", "Switch", show=False),
    ]

    def __init__(
        self,
        question: str,
        *,
        title: str = "Please confirm",
        yes: str = "Yes",
        no: str = "No",
        danger: bool = False,
    ) -> None:
        super().__init__()
        self._question = question
        self._title = title
        self._yes = yes
        self._no = no
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            yield Static(Text(self._question), id="confirm-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{self._yes} (y)",
                    id="yes",
                    variant="error" if self._danger else "primary",
                )
                yield Button(f"{self._no} (n)", id="no")

    def on_mount(self) -> None:
        # The safe answer has the focus: enter alone never confirms a destructive action.
        self.query_one("#no" if self._danger else "#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


def ask_discard(
    app: App[Any],
    then: Callable[[], object],
    question: str = "Discard the unsaved changes in this form?",
) -> None:
    """Run ``then`` once the user agrees to lose unsaved edits ("Keep editing" is the
    focused, safe answer)."""

    def answered(yes: bool | None) -> None:
        if yes:
            then()

    app.push_screen(
        ConfirmScreen(question, title="Unsaved changes", yes="Discard", no="Keep editing",
                      danger=True),
        answered,
    )  # fmt: skip
