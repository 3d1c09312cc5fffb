"""The model picker's table: one row per model with a selection mark, fitted to its width.

State flows down: :meth:`ModelTable.show` gets the models to list and the selected names;
:meth:`ModelTable.mark` updates the marks. The table fits its columns to its own width
(name, workload and capabilities always; parameters, quantization, context, size and
date while they fit) and cuts a long model name in the middle, so that
``fault-rate-limited`` and ``fault-rate-limited-once`` stay apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from ometer_tui.core.models import ModelInfo
from ometer_tui.tui.results_table import fmt_bytes, fmt_context
from ometer_tui.tui.widgets.cells import cell, short_date
from ometer_tui.tui.widgets.fit import FitColumn, clipped, fit_widths, natural_width

SELECTED = Text("●", style="bold green")
UNSELECTED = Text("○", style="dim")

#: (key, header, narrowest, widest, always shown) in display order, which is also their
#: importance: at 80 columns Modified goes first, then Size, Ctx...
MODEL_COLUMNS: tuple[tuple[str, str, int, int, bool], ...] = (
    ("sel", " ", 1, 1, True),
    ("name", "Model", 12, 48, True),
    ("workload", "Workload", 8, 9, True),
    ("caps", "Caps", 6, 20, True),
    ("params", "Params", 99, 10, False),
    ("quant", "Quant", 99, 10, False),
    ("ctx", "Ctx", 99, 6, False),
    ("size", "Size", 99, 8, False),
    ("modified", "Modified", 99, 10, False),
)


def cut_middle(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells with ``…`` in the middle, keeping both ends."""
    plain = text.plain
    if len(plain) <= width or width < 3:
        return text
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    out = Text(plain[:head] + "…" + (plain[-tail:] if tail else ""), style=text.style)
    out.no_wrap = True
    return out


class ModelTable(DataTable[Text]):
    """Models with a selection mark, columns fitted to the table's width."""

    DEFAULT_CSS = """
    ModelTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._models: list[ModelInfo] = []
        self._shown: list[ModelInfo] = []
        self._selected: frozenset[str] = frozenset()
        #: key -> width of the columns shown
        self.widths: dict[str, int] = {}

    def _cells(self, model: ModelInfo) -> dict[str, Text]:
        caps = ", ".join(c for c in model.capabilities if c != "completion")
        return {
            "sel": SELECTED if model.name in self._selected else UNSELECTED,
            "name": Text(model.name),
            "workload": cell(str(model.workload)),
            "caps": cell(caps or None),
            "params": cell(model.parameter_size),
            "quant": cell(model.quantization),
            "ctx": cell(fmt_context(model.context_length)),
            "size": cell(fmt_bytes(model.size_bytes)),
            "modified": cell(short_date(model.modified_at)),
        }

    def _row(self, model: ModelInfo) -> list[Text]:
        cells = self._cells(model)
        return [
            cut_middle(cells[key], width) if key == "name" else clipped(cells[key])
            for key, width in self.widths.items()
        ]

    def _fit(self) -> bool:
        """Fit the columns to the width there is; True when they changed."""
        rows = [self._cells(m) for m in self._models]
        fit = []
        for key, header, minimum, cap, keep in MODEL_COLUMNS:
            natural = natural_width(header, (r[key] for r in rows), cap=cap)
            fit.append(FitColumn(key, natural, min(minimum, natural), keep))
        available = self.size.width - 2  # the vertical scrollbar
        widths = fit_widths(fit, max(available, 0))
        if widths == self.widths:
            return False
        self.widths = widths
        headers = {key: header for key, header, *_ in MODEL_COLUMNS}
        self.clear(columns=True)
        for key, width in widths.items():
            self.add_column(headers[key], key=key, width=width)
        return True

    def on_resize(self, event: events.Resize) -> None:
        if self._fit():
            self._fill()

    def set_models(self, models: Sequence[ModelInfo]) -> None:
        """Every model the endpoint lists (the columns are fitted to them)."""
        self._models = list(models)
        self._fit()

    def show(self, shown: Sequence[ModelInfo], selected: Iterable[str]) -> None:
        """List ``shown`` (the cursor stays on the same model when it is still there)."""
        self._shown = list(shown)
        self._selected = frozenset(selected)
        self._fill()

    def _fill(self) -> None:
        current = self.highlighted_name()
        with self.app.batch_update():
            self.clear()
            for model in self._shown:
                self.add_row(*self._row(model), key=model.name)
            if current is not None and current in {m.name for m in self._shown}:
                self.move_cursor(row=self.get_row_index(current))

    def mark(self, names: Iterable[str], selected: Iterable[str]) -> None:
        """Update the marks of ``names`` to the new ``selected`` set."""
        self._selected = frozenset(selected)
        shown = {m.name for m in self._shown}
        if "sel" not in self.widths:
            return
        for name in names:
            if name in shown:
                self.update_cell(name, "sel", SELECTED if name in self._selected else UNSELECTED)

    def highlighted_name(self) -> str | None:
        """The name of the model under the cursor, if any."""
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return str(row_key.value) if row_key.value is not None else None
