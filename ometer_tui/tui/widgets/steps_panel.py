"""The results screen's step table: a sweep's (or the SLO search's, or the repeats')
steps as the Markdown and terminal tables give them (``core/sweep_doc.step_rows``), and
what the series came to (the knee, the stop reason, the search's answer:
``outcome_lines``). Hidden for a single run.

It observes the session's ``changed`` signal and shows the result's ``sweep`` record once
the series is over (a saved sweep opened from the history too). It never polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ometer_tui.core.sweep_doc import STEP_HEADER, outcome_lines, step_rows

if TYPE_CHECKING:
    from ometer_tui.tui.session import BenchmarkSession, SessionChanged

#: the model's column (left out when every row is of one model: the title names it)
_MODEL = STEP_HEADER.index("Model")
#: the columns right-aligned (figures)
_NUMERIC = frozenset(range(3, len(STEP_HEADER) - 1))


class StepsPanel(Vertical, can_focus=False):
    """The steps of the session's series (table and outcome), once it has ended."""

    DEFAULT_CSS = """
    StepsPanel {
        height: auto;
        max-height: 40%;
        display: none;
        border-top: solid $primary-muted;
    }
    StepsPanel.-on {
        display: block;
    }
    StepsPanel > DataTable {
        height: auto;
        max-height: 9;
    }
    StepsPanel > #steps-outcome {
        height: auto;
        color: $text-muted;
    }
    Screen.-steps #results-table {
        min-height: 4;
    }
    """

    SCOPED_CSS = False  # one rule keeps the results table's rows in sight beside it

    def __init__(self, session: BenchmarkSession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(id="steps-title")
        yield DataTable(id="steps-table", cursor_type="none", zebra_stripes=True)
        yield Static(id="steps-outcome")

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self._session_changed)
        self.show_steps()

    def _session_changed(self, change: SessionChanged) -> None:
        if change.restarted or change.finished or change.steps:
            self.show_steps()

    def show_steps(self) -> None:
        """The result's steps (hidden while it runs or for a single run)."""
        record = self.session.result.sweep
        shown = record is not None and bool(record.steps) and not self.session.running
        self.set_class(shown, "-on")
        self.screen.set_class(shown, "-steps")
        if record is None or not shown:
            return
        title = {"sweep": "Sweep", "search": "SLO search", "repeat": "Repeats"}[record.mode]
        rows = step_rows(record)
        models = {row[_MODEL] for row in rows}
        keep = [i for i in range(len(STEP_HEADER)) if i != _MODEL or len(models) > 1]
        of = f" of {next(iter(models))}" if len(models) == 1 else ""
        self.query_one("#steps-title", Static).update(
            Text(f"{title}{of}: {record.spec}, {record.repeat} repeat(s) per step", style="bold")
        )
        table = self.query_one("#steps-table", DataTable)
        table.clear(columns=True)
        for i in keep:
            table.add_column(Text(STEP_HEADER[i], justify="right" if i in _NUMERIC else "left"))
        for row in rows:
            table.add_row(
                *(Text(row[i], justify="right" if i in _NUMERIC else "left") for i in keep)
            )
        self.query_one("#steps-outcome", Static).update(Text("\n".join(outcome_lines(record))))

    @property
    def rows(self) -> list[list[str]]:
        """The table's cells as text (for tests)."""
        table = self.query_one("#steps-table", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
