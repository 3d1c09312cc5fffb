"""Type to filter on a table: the model picker's (moved out of the screen to keep it
wiring)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


def typed_into_filter(event: events.Key, box: Input, *, typing: bool, bound: bool) -> bool:
    """Type to filter, for a key pressed on the picker's table: a printable key the table
    has no binding for (``bound``) starts the filter, ``box``, and goes into it; True
    when it did.

    Once typing has started (``typing``), every printable key is filter text, bound ones
    too, even before the box has the focus: a fast typist or a paste must not have the
    ``a`` of ``llama`` select every model.
    """
    char = event.character
    if not event.is_printable or not char or char.isspace():
        return False
    if not typing and bound:
        return False  # a, b, r, /, q, ? keep their meaning on the table
    event.stop()
    event.prevent_default()
    box.focus()
    box.insert_text_at_cursor(char)
    return True
