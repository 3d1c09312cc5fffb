"""The results of a benchmark: one row per model, filled while the engine runs.

Wiring only. The benchmark is a :class:`~ometer_tui.tui.session.BenchmarkSession` given
from above (the app owns it); this screen observes its ``changed`` signal and renders
the session's result with a :class:`ResultsTable`. Screens opened from here (detail,
debug log, export) get the same session; none of them reads this screen.

Leaving: Escape while running asks to stop (finished runs are kept, the screen stays);
Escape or ``R`` on a result neither exported nor in the history asks before discarding it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import load_shape
from ometer_tui.tui.results_phrases import header_phrases
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.session import BenchmarkSession, SessionChanged
from ometer_tui.tui.widgets.chart_panel import CHART_BINDINGS, ChartKeys, ChartPanel
from ometer_tui.tui.widgets.results_header import ResultsHeader
from ometer_tui.tui.widgets.results_table import ResultsTable
from ometer_tui.tui.widgets.steps_panel import StepsPanel
from ometer_tui.tui.widgets.telemetry_panel import TelemetryPanel
from ometer_tui.tui.widgets.workers_strip import WORKER_BINDINGS, WorkerKeys, WorkersStrip

Sort = tuple[str | None, bool]


class ResultsScreen(ChartKeys, WorkerKeys, Screen[None]):
    """Shows ``session`` (running or finished); ``sort`` is the sort to start with."""

    HELP_TITLE = "Results"

    CSS_PATH = "../results.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (70, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (22, "-tall")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / stop", id="results.back",
                tooltip="Go back; while running, ask to stop the benchmark"),
        Binding("s", "sort_next", "Sort →", id="results.sort_next",
                tooltip="Sort by the next column to the right"),
        Binding("S", "sort_previous", "Sort ←", show=False, id="results.sort_previous",
                tooltip="Sort by the next column to the left"),
        Binding("r", "reverse_sort", "Reverse", id="results.reverse",
                tooltip="Reverse the sort order"),
        Binding("v", "toggle_per_run", "Per-run", id="results.per_run",
                tooltip="Show or hide the TTFT and tok/s of every measured run"),
        Binding("t", "toggle_telemetry", "Telemetry", id="results.telemetry",
                tooltip="Show or hide the server's own telemetry and sparklines"),
        Binding("e", "export", "Export", id="results.export",
                tooltip="Export the results as JSON, CSV or Markdown"),
        Binding("d", "debug_log", "Debug log", id="results.debug_log",
                tooltip="Requests and responses of this benchmark"),
        Binding("R", "rerun", "Re-run", id="results.rerun",
                tooltip="Run the same plan again"),
        Binding("enter", "open_detail", "Runs", show=True, id="results.detail",
                tooltip="Every run of the highlighted model"),
        *CHART_BINDINGS,
        *WORKER_BINDINGS,
    ]  # fmt: skip

    def __init__(
        self,
        session: BenchmarkSession,
        *,
        sort: Sort = (None, False),
        show_clock: bool = True,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.session = session
        self._sort = sort
        self._show_clock = show_clock
        self._clock: Timer | None = None

    # ------------------------------------------------------------------ composition

    def compose(self) -> ComposeResult:
        shape = load_shape(self.session.result)  # (a loaded result: from its figures)
        yield ResultsHeader(self.session.plan, load_shape=shape, id="results-header")
        yield WorkersStrip(self.session, id="results-workers")
        yield ResultsTable(self.session.plan, sort=self._sort, id="results-table")
        yield ChartPanel(self.session, id="results-charts")
        yield StepsPanel(self.session, id="results-steps")
        yield TelemetryPanel(id="results-telemetry")
        yield Static(id="results-legend")
        yield Footer(compact=True)

    @property
    def table(self) -> ResultsTable:
        return self.query_one("#results-table", ResultsTable)

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self._session_changed)
        self.table.focus()
        # notices told before this screen listened (the engine starts with the session)
        told = tuple(self.session.notices)
        # a benchmark that failed before this screen listened (Ray missing...) says so too
        failed = not self.session.running and self.session.error is not None
        self._session_changed(
            SessionChanged(restarted=True, header=True, notices=told, finished=failed)
        )

    def on_unmount(self) -> None:
        # nobody can see it any more: never leave an engine thread running behind
        self.session.close()

    # ---------------------------------------------------------------- state down

    def _session_changed(self, change: SessionChanged) -> None:
        self._show_change(change)
        for notice in change.notices:  # how it runs: the workers chosen, Ray's placement
            warn = notice.warning
            self.notify(notice.text, title="Workers", markup=False, timeout=15 if warn else 8,
                        severity="warning" if warn else "information")  # fmt: skip
        if change.finished and self.session.error:
            self.notify(self.session.error, title="Benchmark failed", severity="error",
                        timeout=10, markup=False)  # fmt: skip

    def _show_change(self, change: SessionChanged) -> None:
        session = self.session
        if change.models or change.restarted or change.finished or change.trends:
            self.table.show(session.result, session.fold.progress, session.trends)
        if change.header or change.restarted or change.finished or change.workers:
            self._render_header()
        if change.telemetry or change.restarted:
            self.query_one(TelemetryPanel).show(session.telemetry)
        running = session.running  # (each second: the clock, stale workers' in flight)
        if running and self._clock is None:
            self._clock = self.set_interval(1.0, self._render_header)
        elif not running and self._clock is not None:
            self._clock.stop()
            self._clock = None

    def _render_header(self) -> None:
        fold = self.session.fold
        phrases = header_phrases(self.session, show_clock=self._show_clock)
        self.query_one(ResultsHeader).show(*fold.counts(), phrases)

    @on(ResultsTable.LegendChanged)
    def _legend_changed(self, event: ResultsTable.LegendChanged) -> None:
        self.query_one("#results-legend", Static).update(event.legend)

    # ------------------------------------------------------------------- queries

    @property
    def benchmark_running(self) -> bool:
        return self.session.running

    @property
    def result(self) -> BenchmarkResult:
        return self.session.result

    @property
    def sort_state(self) -> Sort:
        return self.table.sort_state

    @property
    def visible_columns(self) -> list[str]:
        return self.table.visible_columns

    def row_order(self) -> list[str]:
        """Model names in the order the table shows them."""
        return self.table.row_keys

    def highlighted_model(self) -> str | None:
        return self.table.highlighted_key

    # ------------------------------------------------------------------- actions

    def action_sort_next(self) -> None:
        self.table.sort_step(1)

    def action_sort_previous(self) -> None:
        self.table.sort_step(-1)

    def action_reverse_sort(self) -> None:
        self.table.reverse_sort()

    def action_sort_by(self, key: str) -> None:
        """Sort by column ``key`` (the command palette's "sort by ..." commands)."""
        self.table.sort_by(key)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(name, action, help) of the commands this screen adds to the palette:
        "Sort by <column>" for each column shown."""
        return [
            (f"Sort by {title}", f"sort_by({key!r})", "Results: best first; r reverses")
            for key, title in self.table.sort_choices()
        ]

    def action_toggle_telemetry(self) -> None:
        self.query_one(TelemetryPanel).toggle()

    def action_toggle_per_run(self) -> None:
        self.table.toggle_per_run()

    @on(ResultsTable.CompareRequested)
    def _compare_rows(self, event: ResultsTable.CompareRequested) -> None:
        from ometer_tui.tui.screens.compare import open_row_compare

        open_row_compare(self, self.session, event.a, event.b)

    @on(DataTable.RowSelected, "#results-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_detail(event.row_key.value)

    def action_open_detail(self) -> None:
        self._open_detail(self.highlighted_model())

    def _open_detail(self, model: str | None) -> None:
        from ometer_tui.tui.screens.run_detail import RunDetailScreen

        if model is not None and model in self.session.result.models:
            self.app.push_screen(RunDetailScreen(self.session, model))

    def action_debug_log(self) -> None:
        from ometer_tui.tui.screens.debug_log import DebugLogScreen

        self.app.push_screen(DebugLogScreen(self.session))

    def action_export(self) -> None:
        from ometer_tui.tui.screens.export_menu import ExportMenu

        if self.session.running:
            self.notify("Exporting the runs finished so far (the benchmark is still running).")

        def exported(path: Path | None) -> None:
            if path is not None and not self.session.running:
                self.session.mark_exported(path)

        self.app.push_screen(ExportMenu(self.session), exported)

    def _confirm_discard(self, then: Callable[[], None], *, doing: str) -> None:
        """Run ``then`` at once, or after a yes when it would lose an unexported result."""
        if not self.session.unsaved:
            then()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.session.discard()
                then()

        self.app.push_screen(
            ConfirmScreen(
                f"{doing} discards these results: they were not exported"
                f"{self.session.kept_note()}. Export first with e.",
                title="Discard the results?", yes="Discard", no="Keep", danger=True,
            ),
            answered,
        )  # fmt: skip

    def _leave(self) -> None:
        self.app.pop_screen()

    def action_back(self) -> None:
        if not self.session.running:
            self._confirm_discard(self._leave, doing="Going back")
            return

        def answered(stop: bool | None) -> None:
            if stop:
                self.session.cancel()

        self.app.push_screen(
            ConfirmScreen(
                "Stop the benchmark? Finished runs are kept; the rest show as cancelled.",
                title="Benchmark running", yes="Stop", no="Keep running", danger=True,
            ),
            answered,
        )  # fmt: skip

    def action_rerun(self) -> None:
        if self.session.running:
            self.notify("A benchmark is running: stop it first (Escape).", severity="warning")
            return
        self._confirm_discard(self.session.start, doing="Re-running")
