"""The results screen's step table: a sweep's (or the SLO search's, or the repeats')
steps as the Markdown and terminal tables give them (``core/sweep_doc.step_rows``), and
what the series came to (the knee, the stop reason, the search's answer:
``outcome_lines``); or, for a plain run with SLOs, each row's SLO figures
(``core/bench/slo_rows.slo_rows``). Hidden for a plain run without SLOs.

It observes the session's ``changed`` signal (published a few times a second at most,
never per token). While a series runs, a row is added as each step finishes (the
session's ``finished_steps``) and the outcome line gives the last step's verdict; once
it is over, the result's ``sweep`` record replaces them (a saved sweep opened from the
history too). A plain run's SLO rows are kept by key and only changed cells are
updated. It never polls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ometer_tui.core.bench.slo_rows import SLO_HEADER, slo_rows
from ometer_tui.core.bench.steps import SweepRecord
from ometer_tui.core.sweep_doc import STEP_HEADER, outcome_lines, step_rows

if TYPE_CHECKING:
    from ometer_tui.tui.session import BenchmarkSession, SessionChanged

#: the model's column (left out when every row is of one model: the title names it)
_MODEL = STEP_HEADER.index("Model")
#: the columns right-aligned (figures)
_NUMERIC = frozenset(range(3, len(STEP_HEADER) - 1))
_SLO_NUMERIC = frozenset({1, 2, 4, 5})
_TITLES = {"sweep": "Sweep", "search": "SLO search", "repeat": "Repeats"}

Mode = Literal["final", "live", "slo"] | None


def _cell(text: str, right: bool) -> Text:
    return Text(text, justify="right" if right else "left")


class StepsPanel(Vertical, can_focus=False):
    """The steps of the session's series (table and outcome), growing while it runs; or
    a plain run's SLO figures."""

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
        #: what the table shows now (``None``: hidden)
        self.mode: Mode = None
        self._keep: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static(id="steps-title")
        yield DataTable(id="steps-table", cursor_type="none", zebra_stripes=True)
        yield Static(id="steps-outcome")

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self._session_changed)
        self.show_steps()

    def _session_changed(self, change: SessionChanged) -> None:
        if change.restarted:
            self.mode = None
        slo = bool(change.models) and not self.session.plain_slo.empty
        if change.restarted or change.finished or change.steps or slo:
            self.show_steps()

    def show_steps(self) -> None:
        """The finished series' steps, the running one's so far, or a plain run's SLO
        figures (hidden when there is none of them)."""
        session = self.session
        record = session.result.sweep
        if record is not None and record.steps and not session.running and not record.single_run:
            self._show_final(record)
            return
        live = session.live_record()
        if live is not None and live.steps:
            self._show_live(live)
            return
        targets = session.plain_slo
        rows = slo_rows(session.result, targets)
        if rows:
            self._title(f"SLOs: {targets.describe()} at p{targets.percentile:g}")
            self._show_slo(rows)
            self._outcome(
                "SLO met: requests within every SLO (failures miss) · goodput: those per "
                f"second · p{targets.percentile:g} of each figure"
                + (" · so far" if session.running else "")
            )
            return
        self._set_mode(None)

    # ------------------------------------------------------------------ modes

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        shown = mode is not None
        self.set_class(shown, "-on")
        self.screen.set_class(shown, "-steps")

    def _title(self, text: str) -> None:
        self.query_one("#steps-title", Static).update(Text(text, style="bold"))

    def _outcome(self, text: str) -> None:
        self.query_one("#steps-outcome", Static).update(Text(text))

    def _columns(self, header: Sequence[str], keep: list[int], numeric: frozenset[int]) -> None:
        table = self.query_one("#steps-table", DataTable)
        table.clear(columns=True)
        for i in keep:
            table.add_column(_cell(header[i], i in numeric), key=str(i))
        self._keep = keep

    def _series_title(self, record: SweepRecord, models: set[str], end: str) -> None:
        of = f" of {next(iter(models))}" if len(models) == 1 else ""
        self._title(f"{_TITLES[record.mode]}{of}: {record.spec}{end}")

    def _show_final(self, record: SweepRecord) -> None:
        """The whole series, from the result's record."""
        rows = step_rows(record)
        models = {row[_MODEL] for row in rows}
        keep = [i for i in range(len(STEP_HEADER)) if i != _MODEL or len(models) > 1]
        self._set_mode("final")
        self._series_title(record, models, f", {record.repeat} repeat(s) per step")
        self._columns(STEP_HEADER, keep, _NUMERIC)
        table = self.query_one("#steps-table", DataTable)
        for row in rows:
            table.add_row(*(_cell(row[i], i in _NUMERIC) for i in keep))
        self._outcome("\n".join(outcome_lines(record)))

    def _show_live(self, record: SweepRecord) -> None:
        """The steps finished so far: only the new ones' rows are added."""
        models = {m.name for m in self.session.plan.models}
        if self.mode != "live":
            keep = [i for i in range(len(STEP_HEADER)) if i != _MODEL or len(models) > 1]
            self._set_mode("live")
            self._columns(STEP_HEADER, keep, _NUMERIC)
        done = len({s.index for s in record.steps})
        self._series_title(record, models, f" (running; {done} step(s) done)")
        table = self.query_one("#steps-table", DataTable)
        rows = step_rows(record)
        for row in rows[table.row_count :]:
            table.add_row(*(_cell(row[i], i in _NUMERIC) for i in self._keep))
        if rows:
            table.scroll_end(animate=False)
        self._outcome(self.session.step_verdict or "")

    def _show_slo(self, rows: list[list[str]]) -> None:
        """A plain run's SLO rows, keyed by their row: only changed cells are updated."""
        table = self.query_one("#steps-table", DataTable)
        if self.mode != "slo":
            self._set_mode("slo")
            self._columns(SLO_HEADER, list(range(len(SLO_HEADER))), _SLO_NUMERIC)
        with self.app.batch_update():
            for row in rows:
                key = row[0]
                if key not in table.rows:
                    table.add_row(
                        *(_cell(text, i in _SLO_NUMERIC) for i, text in enumerate(row)), key=key
                    )
                    continue
                old = table.get_row(key)
                for i, text in enumerate(row):
                    if str(old[i]) != text:
                        table.update_cell(
                            key, str(i), _cell(text, i in _SLO_NUMERIC), update_width=True
                        )

    @property
    def rows(self) -> list[list[str]]:
        """The table's cells as text (for tests)."""
        table = self.query_one("#steps-table", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
