"""A one-line filter box over a list: down and Enter go to the list, space selects.

A filter of names never holds a space, so space is not typed: it asks the host to
toggle the highlighted row, as it does on the list. Messages (``Left``,
``ToggleRequested``) let the host decide what the list is.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBox(Input):
    """An :class:`~textual.widgets.Input` that hands down/Enter and space to its host."""

    HELP_TITLE = "Filter box"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "down,enter",
            "leave",
            "To list",
            id="filter.to_list",
            tooltip="Keep the filter and go to the list",
        ),
        Binding(
            "space",
            "toggle_row",
            "Select",
            id="filter.toggle",
            tooltip="Select or unselect the highlighted model (names have no spaces)",
        ),
    ]

    class Left(Message):
        """The user asked to go to the list (down or Enter)."""

    class ToggleRequested(Message):
        """Space: toggle the highlighted row of the list."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        # space is a binding here (shown in the footer), not filter text
        return key != "space" and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "space":
            event.stop()
            event.prevent_default()
            self.action_toggle_row()
            return
        await super()._on_key(event)

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def action_toggle_row(self) -> None:
        self.post_message(self.ToggleRequested())
