"""Fit a table's columns to the width there is: shrink what may shrink, drop the rest.

Used by the endpoints and model-picker tables (the results table has its own fitter with
per-column priorities). Columns are given in order of importance, which need not be the
display order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text


@dataclass(frozen=True, slots=True)
class FitColumn:
    """``natural``: the width wanted; ``minimum``: the narrowest it may be cut to
    (an ellipsis marks the cut); ``keep``: never dropped (the others go first)."""

    key: str
    natural: int
    minimum: int
    keep: bool = False


def natural_width(header: str, cells: Iterable[Text | str], *, cap: int | None = None) -> int:
    """The widest of the header and the cells, at most ``cap``."""
    width = max([len(header), *(Text(c).cell_len if isinstance(c, str) else c.cell_len
                                for c in cells)])
    return min(width, cap) if cap is not None else width


def fit_widths(
    columns: Sequence[FitColumn], available: int, *, padding: int = 1
) -> dict[str, int]:
    """Key -> width of the columns that fit in ``available`` cells.

    The kept columns come first at their natural width; if they do not fit, the later
    (less important) of them shrink first, down to their minimums (if even that does
    not fit, the table scrolls sideways). Then the others are added in order of
    importance while they fit, each at its natural width or cut to whatever is left
    when that is at least its minimum; the first that does not fit stops the rest.
    """
    kept = [c for c in columns if c.keep]
    widths = {c.key: c.natural for c in kept}
    used = sum(c.natural + 2 * padding for c in kept)
    for col in reversed(kept):
        if used <= available:
            break
        cut = min(col.natural - col.minimum, used - available)
        if cut > 0:
            widths[col.key] -= cut
            used -= cut
    for col in columns:
        if col.keep:
            continue
        free = available - used - 2 * padding
        if free < col.minimum:
            break
        width = min(col.natural, free)
        widths[col.key] = width
        used += width + 2 * padding
    return {c.key: widths[c.key] for c in columns if c.key in widths}


def clipped(text: Text) -> Text:
    """``text`` on one line, cut with an ellipsis when its column is narrower."""
    out = text.copy()
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out
