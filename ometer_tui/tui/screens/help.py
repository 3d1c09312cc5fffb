"""Help: every binding of the screen it was opened from, of the widgets on it that have
keys of their own (the filter box, a run-panel field), then the app's, grouped."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ometer_tui.tui.commands import BindingInfo, binding_infos


def _group_text(infos: list[BindingInfo]) -> Text:
    """Aligned ``key  description - tooltip`` lines (plain text, never markup)."""
    width = max((len(info.keys) for info in infos), default=0) + 2
    text = Text()
    for i, info in enumerate(infos):
        if i:
            text.append("\n")
        text.append(info.keys.ljust(width), style="bold")
        text.append(info.description)
        if info.tooltip and info.tooltip != info.description:
            text.append(f" - {info.tooltip}", style="dim")
    return text


def screen_title(screen: DOMNode) -> str:
    """A screen's (or widget's) ``HELP_TITLE``, else its class name in words
    ("RunDetailScreen" -> "Run detail")."""
    title = getattr(screen, "HELP_TITLE", None)
    if isinstance(title, str) and title:
        return title
    name = type(screen).__name__.removesuffix("Screen") or type(screen).__name__
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name) or [name]
    return " ".join([words[0], *(w.lower() for w in words[1:])])


class HelpScreen(ModalScreen[None]):
    """Lists the keys of ``source`` (a screen) and of the app."""

    HELP_TITLE = "Help"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark,f1", "close", "Close", id="help.close", tooltip="Close the help"
        ),
    ]

    def __init__(self, source: Screen[object]) -> None:
        super().__init__()
        self._source = source

    def _groups(self) -> list[tuple[str, list[BindingInfo]]]:
        groups: list[tuple[str, list[BindingInfo]]] = []
        title = screen_title(self._source)
        screen_infos = binding_infos(type(self._source), display=self.app)
        if screen_infos:
            groups.append((f"This screen: {title}", screen_infos))
        seen: set[type[DOMNode]] = set()
        for widget in self._source.query("*"):
            kind = type(widget)
            if kind in seen or not kind.__module__.startswith("ometer_tui."):
                continue
            seen.add(kind)
            infos = binding_infos(kind, display=self.app)
            if infos:
                groups.append((f"In the {screen_title(widget).lower()}", infos))
        groups.append(("Everywhere", binding_infos(type(self.app), display=self.app)))
        return groups

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(Text("Keys", style="bold"), classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for name, infos in self._groups():
                    yield Static(Text(name, style="bold underline"), classes="help-group")
                    yield Static(_group_text(infos), classes="help-table")
            yield Static(
                Text("ctrl+p: command palette (every action)   esc: close", style="dim"),
                classes="dialog-hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
