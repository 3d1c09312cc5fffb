"""Small building blocks of the TUI's forms: labelled rows, a checkbox that reads right,
numbers and ``Name: value`` header lines parsed with a message naming the field.

The forms (run panel, endpoint form, defaults form) compose these; their styles are here
(``FORM_CSS``) and included in each form's ``DEFAULT_CSS`` so a form looks the same on
any screen that hosts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual.containers import Horizontal
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Checkbox, Label

from ometer_tui.core.secrets import SENSITIVE_HEADERS, redact_headers

T = TypeVar("T", int, float)

#: Styles shared by every form: a row is a label then its field; the focused row is
#: lit, its label bold in the accent colour, and its field has a clear background (a
#: compact field has no border to show the focus). The row's own ``:focus-within`` rule
#: also makes Textual restyle the label when the focus moves into the row.
FORM_CSS = """
.field-row {
    height: 1;
}
.field-row > .field-name {
    width: 13;
    height: 1;
    color: $text-muted;
}
.field-row:focus-within {
    background: $boost;
}
.field-row:focus-within > .field-name {
    color: $text-accent;
    text-style: bold;
}
.field-row > Input, .field-row > Select {
    width: 1fr;
}
.field-row > Input.-textual-compact:focus {
    background: $accent 25%;
}
.field-label {
    height: 1;
    margin-top: 1;
    color: $text-muted;
}
.form-errors {
    height: auto;
    margin: 1 0 0 0;
    padding: 0 1;
    border-left: thick $error;
    display: none;
}
.form-errors.-shown {
    display: block;
}
FormCheckbox.-textual-compact:focus > .toggle--label {
    text-style: bold;
}
"""


def field_row(label: str, widget: Widget, tooltip: str = "") -> Horizontal:
    """``label`` then ``widget`` on one line (the label marks the row while it has the
    focus)."""
    if tooltip:
        widget.tooltip = tooltip
    return Horizontal(Label(label, classes="field-name"), widget, classes="field-row")


class FormCheckbox(Checkbox):
    """A checkbox whose unchecked box is empty (``▐ ▌``), checked ``▐X▌``.

    Textual's own draws the ``X`` in both states and tells them apart by colour only; on
    some themes (and in any text capture) an unchecked box read as checked."""

    @property
    def _button(self) -> Content:
        button_style = self.get_visual_style("toggle--button")
        side_style = Style(foreground=button_style.background,
                           background=self.background_colors[1])  # fmt: skip
        inner = self.BUTTON_INNER if self.value else " "
        return Content.assemble(
            (self.BUTTON_LEFT, side_style),
            (inner, button_style),
            (self.BUTTON_RIGHT, side_style),
        )


def parse_number(raw: str, kind: Callable[[str], T], label: str, problems: list[str]) -> T | None:
    """``raw`` (stripped) as ``kind``; ``None`` when empty. A value that is not a number
    adds ``"<label>: 'x' is not a whole number"`` (or ``a number``) to ``problems``."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        problems.append(f"{label}: {raw!r} is not {what}")
        return None


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
