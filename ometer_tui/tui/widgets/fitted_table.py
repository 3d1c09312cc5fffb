"""A ``DataTable`` whose columns fit the width it has: shrink what may shrink, drop the rest.

One widget for every table of the app (endpoints, model picker, results). The caller
describes the columns once (:class:`FitColumn`) and hands over rows as ``Text`` cells
keyed by column; the table measures them, fits the columns to its own width (again on
every resize), cuts cells that are too long with an ellipsis (at the end, or in the
middle for names whose ends matter) and shows only what changed.

Usage::

    table = FittedTable(
        [FitColumn("name", "Name", minimum=12, cut="middle"),
         FitColumn("status", "Status", width=36, minimum=20),
         FitColumn("url", "URL", cap=40, minimum=16, priority=1)],
        id="endpoints",
    )
    ...
    table.show_rows({"local": {"name": Text("local"), "status": ..., "url": ...}})

Fitting (:func:`fit_widths`): columns with ``priority == 0`` are always shown at their
natural width; when even they do not fit, the later of them shrink first, down to their
``minimum`` (then the table scrolls sideways). The others are added by importance
(lower ``priority`` first, then display order) while they fit, each at its natural width
or cut to what is left when that is at least its ``minimum``; the first that does not fit
stops the rest (never a minor column in place of a major one). A ``squeeze`` column
first cuts the kept columns that may be cut to make room for itself. Display order is kept.

``show_rows`` is a diff: rows in the mapping's order, rows not in it removed, only
changed cells repainted, the cursor kept on the same row key. :class:`FittedTable.Refitted`
is posted whenever the shown columns or their widths change. Sorting is the caller's
(on raw values, never on display text): give the rows in the order to show them and
mark the sorted column with :meth:`FittedTable.set_sort_indicator`.

The API is shared with the endpoints and picker screens: keep it stable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowDoesNotExist

Cut = Literal["end", "middle"]
Cells = Mapping[str, Text]

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class FitColumn:
    """One column of a :class:`FittedTable`.

    ``label``: the header. ``width``: a fixed natural width (for a column whose content
    changes, e.g. a status filled in later); without it the natural width is the widest
    of the label and the cells, at most ``cap``. ``minimum``: the narrowest the column may
    be cut to (``None``: never cut). ``priority``: 0 = always shown; larger numbers are
    dropped first on narrow terminals. ``cut``: where a too-long cell loses characters.
    ``squeeze``: an optional column that may make room for itself by cutting the kept
    columns that can be cut (down to their minimums) rather than be dropped.
    """

    key: str
    label: str
    width: int | None = None
    minimum: int | None = None
    cap: int | None = None
    priority: int = 0
    cut: Cut = "end"
    squeeze: bool = False

    @property
    def keep(self) -> bool:
        return self.priority == 0


def text_width(text: Text | str) -> int:
    return Text(text).cell_len if isinstance(text, str) else text.cell_len


def natural_width(column: FitColumn, cells: Iterable[Text], *, extra_label: int = 0) -> int:
    """The width ``column`` wants: its fixed width, or the widest of label and cells."""
    label = len(column.label) + extra_label
    if column.width is not None:
        return max(column.width, label)
    width = max([label, *(c.cell_len for c in cells)])
    return min(width, max(column.cap, label)) if column.cap is not None else width


@dataclass(frozen=True, slots=True)
class _Want:
    key: str
    natural: int
    minimum: int
    priority: int
    squeeze: bool = False


def fit_widths(
    columns: Sequence[FitColumn],
    naturals: Mapping[str, int],
    available: int,
    *,
    padding: int = 1,
) -> dict[str, int]:
    """Key -> width of the columns shown in ``available`` cells, in display order.

    ``naturals``: each column's natural width (:func:`natural_width`). With
    ``available <= 0`` (not laid out yet) every column is shown at its natural width.
    """
    wants = [
        _Want(c.key, naturals[c.key], min(c.minimum, naturals[c.key])
              if c.minimum is not None else naturals[c.key], c.priority, c.squeeze)
        for c in columns
    ]  # fmt: skip
    if available <= 0:
        return {w.key: w.natural for w in wants}
    kept = [w for w in wants if w.priority == 0]
    widths = {w.key: w.natural for w in kept}
    used = sum(w.natural + 2 * padding for w in kept)
    for want in reversed(kept):
        if used <= available:
            break
        cut = min(want.natural - want.minimum, used - available)
        if cut > 0:
            widths[want.key] -= cut
            used -= cut
    optional = sorted(
        (w for w in wants if w.priority > 0), key=lambda w: (w.priority, wants.index(w))
    )
    for want in optional:
        free = available - used - 2 * padding
        room = sum(widths[k.key] - k.minimum for k in kept)
        if want.squeeze and free < want.natural and free + room >= want.minimum:
            for kept_want in reversed(kept):
                take = min(widths[kept_want.key] - kept_want.minimum, want.natural - free)
                if take > 0:
                    widths[kept_want.key] -= take
                    used -= take
                    free += take
        if free < want.minimum:
            break
        width = min(want.natural, free)
        widths[want.key] = width
        used += width + 2 * padding
    return {w.key: widths[w.key] for w in wants if w.key in widths}


def cut_text(text: Text, width: int, cut: Cut = "end") -> Text:
    """``text`` on one line in ``width`` cells: an ellipsis marks what was cut.

    ``cut="middle"`` keeps both ends (``fault-rate-limited-once`` ->
    ``fault-ra…ted-once``), so names that share a prefix stay apart.
    """
    out = text.copy()
    out.no_wrap = True
    out.overflow = "ellipsis"
    if cut == "end" or out.cell_len <= width or width < 3:
        return out
    plain = out.plain
    keep = width - 1
    tail = keep // 2
    head = keep - tail
    result = out[:head]
    result.append(ELLIPSIS)
    result.append_text(out[len(plain) - tail :])
    result.no_wrap = True
    result.overflow = "ellipsis"
    result.justify = out.justify
    return result


def _shown(text: Text) -> tuple[str, str, tuple[object, ...], str | None]:
    """What the user sees of a cell (``Text.__eq__`` ignores the base style)."""
    return (text.plain, str(text.style), tuple(text.spans), text.justify)


class FittedTable(DataTable[Text]):
    """A row-cursor ``DataTable`` of ``Text`` cells that fits its columns to its width.

    ``sortable``: headers keep room for a sort arrow (see :meth:`set_sort_indicator`).
    ``reserve``: cells kept free at the right (a vertical scrollbar).
    """

    class Refitted(Message):
        """The shown columns or their widths changed (a resize, new content)."""

        def __init__(self, table: FittedTable, widths: dict[str, int]) -> None:
            super().__init__()
            self.table = table
            self.widths = widths

        @property
        def control(self) -> FittedTable:
            return self.table

    DEFAULT_CSS = """
    FittedTable {
        height: 1fr;
    }
    """

    def __init__(
        self,
        columns: Sequence[FitColumn] = (),
        *,
        sortable: bool = False,
        reserve: int = 2,
        padding: int = 1,
        zebra_stripes: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            cursor_type="row", zebra_stripes=zebra_stripes, cell_padding=padding,
            name=name, id=id, classes=classes,
        )  # fmt: skip
        self._specs: list[FitColumn] = list(columns)
        self._sortable = sortable
        self._reserve = reserve
        self._padding = padding
        #: row key -> column key -> the caller's cell (uncut), in display order
        self._rows: dict[str, dict[str, Text]] = {}
        #: what the table holds: row key -> column key -> the cut cell given to it
        self._held: dict[str, dict[str, Text]] = {}
        self._widths: dict[str, int] = {}
        self._sort_key: str | None = None
        self._descending = False

    # ------------------------------------------------------------------ queries

    @property
    def widths(self) -> dict[str, int]:
        """Key -> width of the columns shown, in display order."""
        return dict(self._widths)

    @property
    def visible_columns(self) -> list[str]:
        return list(self._widths)

    @property
    def row_keys(self) -> list[str]:
        """Row keys in the order shown."""
        return [row.key.value or "" for row in self.ordered_rows]

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, ``None`` when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:
            return None
        return row_key.value

    def cells_of(self, key: str) -> dict[str, Text]:
        """The caller's (uncut) cells of one row."""
        return dict(self._rows.get(key, {}))

    # ------------------------------------------------------------------ changes

    def set_columns(self, columns: Sequence[FitColumn]) -> None:
        """Describe the columns again (a view toggled): lays the table out anew."""
        self._specs = list(columns)
        self._relayout(force=True)

    def show_rows(self, rows: Mapping[str, Cells]) -> None:
        """Show exactly ``rows`` (key -> column key -> cell), in the mapping's order.

        Re-fits the columns when the content changes their natural widths; otherwise
        removes stale rows, adds new ones, repaints changed cells and reorders, keeping
        the cursor on its row.
        """
        self._rows = {key: dict(cells) for key, cells in rows.items()}
        if not self.is_mounted or self._relayout():
            return
        keep = self.highlighted_key
        with self.app.batch_update():
            for key in [k for k in self._held if k not in self._rows]:
                with contextlib.suppress(RowDoesNotExist):
                    self.remove_row(key)
                del self._held[key]
            for key, cells in self._rows.items():
                held = self._held.get(key)
                if held is None:
                    self._add(key, cells)
                    continue
                for col, width in self._widths.items():
                    new = self._cut(col, cells.get(col), width)
                    if _shown(new) != _shown(held[col]):
                        self.update_cell(key, col, new)
                        held[col] = new
            self._reorder()
            self._restore(keep)

    def update_row(self, key: str, cells: Cells) -> None:
        """Change some cells of one shown row (others unchanged)."""
        if key not in self._rows:
            return
        merged = {**self._rows[key], **cells}
        self.show_rows({k: (merged if k == key else v) for k, v in self._rows.items()})

    def set_sort_indicator(self, key: str | None, descending: bool = False) -> None:
        """Mark ``key``'s header with ▲ (ascending) or ▼ (descending); ``None``: none."""
        self._sort_key, self._descending = key, descending
        if not self.is_mounted:
            return
        for col in self._specs:
            if col.key in self._widths:
                self.columns[ColumnKey(col.key)].label = self._label(col)
        self._clear_caches()
        self.refresh()

    def move_to(self, key: str) -> None:
        """Put the cursor on the row ``key`` (no-op when it is not shown)."""
        self._restore(key)

    # ------------------------------------------------------------------- layout

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def _available(self) -> int:
        return max(self.size.width - self._reserve, 0) if self.size.width else 0

    def _naturals(self) -> dict[str, int]:
        extra = 2 if self._sortable else 0
        return {
            c.key: natural_width(
                c, (cells[c.key] for cells in self._rows.values() if c.key in cells),
                extra_label=extra,
            )
            for c in self._specs
        }  # fmt: skip

    def _relayout(self, *, force: bool = False) -> bool:
        """Fit the columns; rebuild the table when they changed. True if rebuilt."""
        if not self.is_mounted:
            return False
        widths = fit_widths(self._specs, self._naturals(), self._available(), padding=self._padding)
        if not force and widths == self._widths:
            return False
        keep = self.highlighted_key
        self._widths = widths
        with self.app.batch_update():
            self.clear(columns=True)
            self._held.clear()
            specs = {c.key: c for c in self._specs}
            for key, width in widths.items():
                self.add_column(self._label(specs[key]), width=width, key=key)
            for key, cells in self._rows.items():
                self._add(key, cells)
            self._restore(keep)
        self.post_message(self.Refitted(self, dict(widths)))
        return True

    def on_mount(self) -> None:
        self._relayout(force=True)

    # ---------------------------------------------------------------- internals

    def _label(self, col: FitColumn) -> Text:
        if self._sortable and self._sort_key == col.key:
            arrow = "▼" if self._descending else "▲"
            return Text(f"{col.label} {arrow}", style="bold")
        return Text(col.label)

    def _cut(self, col: str, cell: Text | None, width: int) -> Text:
        spec = next((c for c in self._specs if c.key == col), None)
        text = cell if cell is not None else Text("")
        return cut_text(text, width, spec.cut if spec is not None else "end")

    def _add(self, key: str, cells: Cells) -> None:
        held = {col: self._cut(col, cells.get(col), w) for col, w in self._widths.items()}
        self.add_row(*held.values(), key=key)
        self._held[key] = held

    def _reorder(self) -> None:
        wanted = list(self._rows)
        if self.row_keys == wanted or not self._widths:
            return
        first = next(iter(self._widths))
        rank = {id(self._held[k][first]): i for i, k in enumerate(wanted)}
        self.sort(first, key=lambda cell: rank.get(id(cell), len(rank)))

    def _restore(self, key: str | None) -> None:
        if key is None:
            return
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)
