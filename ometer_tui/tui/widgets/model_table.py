"""The model picker's table: one row per model with a selection mark, on the shared
:class:`FittedTable` (fitted to its own width, names cut in the middle).

State flows down: :meth:`ModelTable.show` gets the models to list and the selected names
(and, with several endpoints, which of them serve each model: the "On" column);
:meth:`ModelTable.mark` updates the marks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.text import Text

from ometer_tui.core.models import ModelInfo
from ometer_tui.tui.formatting import fmt_bytes, fmt_context
from ometer_tui.tui.widgets.cells import cell, short_date
from ometer_tui.tui.widgets.fitted_table import FitColumn, FittedTable

SELECTED = Text("●", style="bold green")
UNSELECTED = Text("○", style="dim")

#: In display order; priority 0 always shown, then caps, params, quant, ctx, size, date
#: while they fit (at 80 columns Modified goes first, then Size, Ctx...). A name is cut in
#: the middle so that ``fault-rate-limited`` and ``fault-rate-limited-once`` differ.
MODEL_COLUMNS: tuple[FitColumn, ...] = (
    FitColumn("sel", " ", width=1),
    FitColumn("name", "Model", minimum=12, cap=48, cut="middle"),
    FitColumn("workload", "Workload", minimum=8, cap=9),
    FitColumn("caps", "Caps", minimum=6, cap=20, priority=1),
    FitColumn("params", "Params", cap=10, priority=2),
    FitColumn("quant", "Quant", cap=10, priority=3),
    FitColumn("ctx", "Ctx", cap=6, priority=4),
    FitColumn("size", "Size", cap=8, priority=5),
    FitColumn("modified", "Modified", cap=10, priority=6),
)


#: With several endpoints: which of them serve the model, after its name.
ENDPOINTS_COLUMN = FitColumn("on", "On", minimum=6, cap=32)


def sort_newest_first(models: Iterable[ModelInfo]) -> list[ModelInfo]:
    """Newest first by ``modified_at``; models without a date keep their order, last."""
    listed = list(models)
    dated = sorted(
        (m for m in listed if m.modified_at), key=lambda m: m.modified_at or "", reverse=True
    )
    return dated + [m for m in listed if not m.modified_at]


def status_text(listed: int, shown: int, selected: int) -> Text:
    """The line over the table: ``15 models · 3 shown · 1 selected``."""
    if not listed:
        return Text("The server lists no models.   r reloads", style="yellow")
    text = Text(f"{listed} models")
    if shown != listed:
        text.append(f" · {shown} shown")
    text.append(f" · {selected} selected", style="bold" if selected else "")
    return text


def model_cells(model: ModelInfo, selected: bool) -> dict[str, Text]:
    """The cells of one model's row."""
    caps = ", ".join(c for c in model.capabilities if c != "completion")
    return {
        "sel": SELECTED if selected else UNSELECTED,
        "name": Text(model.name),
        "workload": cell(str(model.workload)),
        "caps": cell(caps or None),
        "params": cell(model.parameter_size),
        "quant": cell(model.quantization),
        "ctx": cell(fmt_context(model.context_length)),
        "size": cell(fmt_bytes(model.size_bytes)),
        "modified": cell(short_date(model.modified_at)),
    }


class ModelTable(FittedTable):
    """Models with a selection mark, columns fitted to the table's width."""

    def __init__(self, *, id: str | None = None, endpoints: int = 1) -> None:
        """``endpoints``: how many endpoints list their models here (several: an "On"
        column names those that serve each model)."""
        columns = MODEL_COLUMNS
        if endpoints > 1:
            columns = (*MODEL_COLUMNS[:2], ENDPOINTS_COLUMN, *MODEL_COLUMNS[2:])
        super().__init__(columns, id=id)
        self._several = endpoints > 1
        self._shown: dict[str, ModelInfo] = {}
        self._selected: frozenset[str] = frozenset()
        self._served: Mapping[str, tuple[str, ...]] = {}

    def show(
        self,
        shown: Sequence[ModelInfo],
        selected: Iterable[str],
        served: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """List ``shown`` (the cursor stays on the same model when it is still there);
        ``served``: model name -> the endpoints that serve it (several endpoints)."""
        self._shown = {m.name: m for m in shown}
        self._selected = frozenset(selected)
        if served is not None:
            self._served = served
        rows = {m.name: model_cells(m, m.name in self._selected) for m in shown}
        if self._several:
            for name, cells in rows.items():
                cells["on"] = Text(", ".join(self._served.get(name, ())), style="cyan")
        self.show_rows(rows)

    def mark(self, names: Iterable[str], selected: Iterable[str]) -> None:
        """Update the marks of ``names`` to the new ``selected`` set."""
        self._selected = frozenset(selected)
        self.show(list(self._shown.values()), self._selected)

    def highlighted_name(self) -> str | None:
        """The name of the model under the cursor, if any."""
        return self.highlighted_key
