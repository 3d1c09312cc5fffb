"""A comparison on screen: two saved results side by side, or two rows of one result.

Per pair and metric: A, B, the difference, the difference in %, its confidence interval,
the runs per side and a verdict (the core's :mod:`~ometer_tui.core.compare`, formatted as
its exports format them), in a table that drops its minor columns on narrow terminals.
``e`` exports the comparison (JSON, CSV, Markdown).

Wiring only: :func:`compare_saved` reads two stored documents (call it in a thread),
:func:`open_row_compare` compares two rows of a session's result and opens the screen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Static

from ometer_tui.core.compare import (
    CompareError,
    Comparison,
    PairComparison,
    Verdict,
    compare_documents,
    compare_rows,
    comparison_rows,
    pair_titles,
    verdict_text,
)
from ometer_tui.core.history import HistoryStore
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.fitted_table import FitColumn, FittedTable


def compare_saved(path: Path, id_a: int, id_b: int) -> Comparison:
    """Compare history results ``id_a`` (A) and ``id_b`` (B). Blocking (SQLite): run it
    in a thread. Raises ``HistoryError`` / ``CompareError``."""
    with HistoryStore(path) as store:
        doc_a, doc_b = store.document(id_a), store.document(id_b)
    return compare_documents(doc_a, doc_b, source_a=f"history #{id_a}", source_b=f"history #{id_b}")


def open_row_compare(node: DOMNode, session: BenchmarkSession, a: str, b: str) -> None:
    """Compare rows ``a`` (A) and ``b`` (B) of the session's result and show it. A
    finished result is compared in a thread; a running one at once (its runs grow)."""
    source = "this result" if session.history_id is None else f"history #{session.history_id}"
    result = session.result

    def shown(comparison: Comparison | None, error: str | None = None) -> None:
        if comparison is not None:
            node.app.push_screen(CompareScreen(comparison))
        else:
            node.app.notify(error or "", title="Compare", severity="error", markup=False)

    if session.running:
        try:
            shown(compare_rows(result, a, b, source=source))
        except CompareError as exc:
            shown(None, str(exc))
        return

    async def in_thread() -> None:
        try:
            shown(await asyncio.to_thread(compare_rows, result, a, b, source=source))
        except CompareError as exc:
            shown(None, str(exc))

    node.run_worker(in_thread(), group="row-compare", exclusive=True, exit_on_error=False)


#: (key, header, priority): 0 always shown; larger numbers are dropped first
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("metric", "Metric", 0),
    ("a", "A", 0),
    ("b", "B", 0),
    ("diff", "B − A", 3),
    ("pct", "B − A %", 1),
    ("ci", "95% CI", 2),
    ("n", "n A/B", 4),
    ("verdict", "Verdict", 0),
    ("tell", "runs to tell", 5),
)
VERDICT_STYLE = {Verdict.BETTER: "bold green", Verdict.WORSE: "bold red",
                 Verdict.TOO_FEW: "yellow", Verdict.SAME: ""}  # fmt: skip


def comparison_table_rows(pair: PairComparison) -> dict[str, dict[str, Text]]:
    """The table's cells per metric key: the exports' figures, a shorter verdict, and
    for no significant difference about how many runs per side would tell one."""
    out: dict[str, dict[str, Text]] = {}
    for m, cells in zip(pair.metrics, comparison_rows(pair), strict=True):
        row = {key: Text(cell, justify="left" if key == "metric" else "right")
               for (key, _, _), cell in zip(COLUMNS, cells, strict=False)}  # fmt: skip
        row["verdict"] = Text(verdict_text(m, short=True), style=VERDICT_STYLE[m.verdict])
        tell = m.verdict is Verdict.SAME and m.runs_needed is not None
        row["tell"] = Text(f"~{m.runs_needed}" if tell else "", justify="right")
        out[m.spec.key] = row
    return out


def sides_text(pair: PairComparison, notes: tuple[str, ...] = ()) -> Text:
    a, b = pair_titles(pair)
    text = Text.assemble(("A: ", "bold"), a, "\n", ("B: ", "bold"), b)
    for note in (*notes, *pair.notes):
        text.append(f"\nnote: {note}", style="yellow")
    return text


class CompareScreen(Screen[None]):
    """Shows ``comparison`` (B against A)."""

    HELP_TITLE = "Compare"

    DEFAULT_CSS = """
    CompareScreen .compare-sides { padding: 0 1; }
    CompareScreen .compare-table { height: auto; margin-bottom: 1; }
    #compare-status { padding: 0 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="compare.back", tooltip="Back"),
        Binding("e", "export", "Export", id="compare.export",
                tooltip="Export the comparison as JSON, CSV or Markdown"),
    ]  # fmt: skip

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison
        #: where the comparison was last exported
        self.exported_to: Path | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-body"):
            for i, pair in enumerate(self.comparison.pairs):
                yield Static(sides_text(pair, self.comparison.notes), classes="compare-sides")
                columns = [FitColumn(key, label, priority=prio,
                                     minimum=12 if key in ("metric", "verdict") else None)
                           for key, label, prio in COLUMNS]  # fmt: skip
                yield FittedTable(columns, id=f"compare-table-{i}", classes="compare-table")
        yield Static(self._status(), id="compare-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for i, pair in enumerate(self.comparison.pairs):
            table = self.query_one(f"#compare-table-{i}", FittedTable)
            table.show_rows(comparison_table_rows(pair))
        self.query_one("#compare-table-0", FittedTable).focus()

    def _status(self) -> Text:
        pct = f"{self.comparison.confidence * 100:g}%"
        text = Text(f"B − A with its {pct} confidence interval; significant when it excludes 0")
        if self.exported_to is not None:
            text.append(f" · exported to {self.exported_to}", style="bold")
        return text

    def action_export(self) -> None:
        from ometer_tui.tui.screens.compare_export import CompareExportMenu

        def exported(path: Path | None) -> None:
            if path is not None:
                self.exported_to = path
                self.query_one("#compare-status", Static).update(self._status())

        self.app.push_screen(CompareExportMenu(self.comparison), exported)
