"""The live results of a benchmark: one row per model, filled while the engine runs.

Where the engine runs: in a Textual thread worker, on an event loop of its own (see
``ometer_tui.tui.bench_bridge``), so the UI's repaints never delay its chunk timestamps.
Its events are queued and drained here five times a second; each drain updates only the
cells that changed, inside ``app.batch_update()``.

Leaving the screen: Escape while a benchmark runs asks whether to stop it (finished runs
are kept and the other rows show "cancelled"); the screen stays, so the partial result
can be read, exported or re-run. Screens pushed on top (detail, export, debug log,
help...) leave the benchmark running. If the screen is unmounted anyway (the app quits),
the runner is cancelled so its thread never outlives the app.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.widgets.data_table import ColumnKey, RowDoesNotExist

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.tui.bench_bridge import (
    DRAIN_HZ,
    BenchmarkBridge,
    RunnerFactory,
    default_runner_factory,
)
from ometer_tui.tui.messages import BenchmarkCompleted, BenchmarkEventsArrived
from ometer_tui.tui.results_table import (
    ColumnSpec,
    Progress,
    Row,
    apply_colours,
    build_row,
    columns_for_view,
    default_descending,
    diff_rows,
    fit_columns,
    header_label,
    per_run_count,
    sort_order,
)

#: Exchanges kept for the debug log (oldest dropped first).
MAX_EXCHANGES = 500
_ACTIVE = (ModelPhase.QUEUED, ModelPhase.WARMING, ModelPhase.RUNNING)


def empty_result(plan: BenchmarkPlan) -> BenchmarkResult:
    """A result with every planned model queued and no records."""
    return BenchmarkResult(
        plan=plan,
        started_at=datetime.now(UTC),
        models={m.name: ModelResult(info=m) for m in plan.models},
    )


def planned_requests(plan: BenchmarkPlan) -> int:
    return len(plan.models) * (plan.runs_per_model + plan.warmup)


class ResultsScreen(Screen[None]):
    """Runs ``plan`` and shows its results live; ``from_result`` shows a finished one."""

    HELP_TITLE = "Results"

    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / stop", id="results.back",
                tooltip="Go back; while running, ask to stop the benchmark"),
        Binding("s", "sort_next", "Sort →", id="results.sort_next",
                tooltip="Sort by the next column to the right"),
        Binding("S", "sort_previous", "Sort ←", id="results.sort_previous",
                tooltip="Sort by the next column to the left"),
        Binding("r", "reverse_sort", "Reverse", id="results.reverse",
                tooltip="Reverse the sort order"),
        Binding("v", "toggle_per_run", "Per-run", id="results.per_run",
                tooltip="Show or hide the TTFT and tok/s of every measured run"),
        Binding("e", "export", "Export", id="results.export",
                tooltip="Export the results as JSON, CSV or Markdown"),
        Binding("d", "debug_log", "Debug log", id="results.debug_log",
                tooltip="Requests and responses of this benchmark"),
        Binding("R", "rerun", "Re-run", id="results.rerun",
                tooltip="Run the same plan again"),
        Binding("enter", "open_detail", "Runs", show=True, id="results.detail",
                tooltip="Every run of the highlighted model"),
    ]

    def __init__(
        self,
        plan: BenchmarkPlan,
        *,
        runner_factory: RunnerFactory = default_runner_factory,
        autostart: bool = True,
        show_clock: bool = True,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.plan = plan
        self._runner_factory = runner_factory
        self._autostart = autostart
        self._show_clock = show_clock
        self.result: BenchmarkResult = empty_result(plan)
        self.exchanges: deque[ExchangeLogged] = deque(maxlen=MAX_EXCHANGES)
        #: exchanges seen in total (the debug log uses it to find new ones)
        self.exchange_count = 0
        self._progress: dict[str, Progress] = {}
        self._bridge: BenchmarkBridge | None = None
        self._bench_running = False
        self._error: str | None = None
        self._requests_done = 0
        self._requests_total = planned_requests(plan)
        self._started_mono: float | None = None
        self._elapsed_s: float | None = None
        self._drain_timer: Timer | None = None
        self._clock_timer: Timer | None = None
        # table state
        self._per_run = False
        self._all_columns: list[ColumnSpec] = columns_for_view(plan, per_run=False)
        self._columns: list[ColumnSpec] = []
        self._shown: dict[str, Row] = {}
        self._sort_key: str | None = None
        self._descending = False
        self._table_order: list[str] = []
        self._composed = False

    @classmethod
    def from_result(cls, result: BenchmarkResult, *, show_clock: bool = False) -> ResultsScreen:
        """A screen showing a finished (or saved) result; nothing runs until ``R``."""
        screen = cls(result.plan, autostart=False, show_clock=show_clock)
        screen.result = result
        screen._requests_done = sum(len(m.records) for m in result.models.values())
        screen._requests_total = max(screen._requests_done, 1)
        return screen

    # ------------------------------------------------------------------ composition

    def compose(self) -> ComposeResult:
        with Vertical(id="results-header"):
            with Horizontal(id="results-title-row"):
                yield Static(self._title_text(), id="results-title")
                if self.plan.endpoint.simulated:
                    yield Static(
                        Text(" SIMULATED (demo endpoint) ", style="bold"),
                        id="results-simulated",
                    )
            with Horizontal(id="results-progress-row"):
                bar = ProgressBar(
                    total=self._requests_total, show_eta=False, id="results-progress"
                )
                bar.progress = self._requests_done
                yield bar
                yield Static("", id="results-status")
        table: DataTable[Text] = DataTable(
            id="results-table", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield Static(self._legend_text(), id="results-legend")
        yield Footer(compact=True)

    def _title_text(self) -> Text:
        plan = self.plan
        ep = plan.endpoint
        api = f" · {ep.api}" if ep.api else ""
        warm = f" (+{plan.warmup} warm-up)" if plan.warmup else ""
        text = Text()
        text.append("Results ", style="bold")
        text.append(f"{ep.name} ", style="bold cyan")
        text.append(f"{ep.display_url}{api} · ", style="dim")
        text.append(
            f"{len(plan.models)} model{'s' if len(plan.models) != 1 else ''} × "
            f"{plan.runs_per_model} run{'s' if plan.runs_per_model != 1 else ''}{warm}"
        )
        if plan.concurrency > 1:
            text.append(f" · concurrency {plan.concurrency}")
        if plan.parallel_models > 1:
            text.append(f" · {plan.parallel_models} models at once")
        return text

    @staticmethod
    def _legend_text() -> Text:
        return Text(
            "means of measured runs · vTTFT: first visible token · p50…p99: TTFT "
            "(n ≥ 5) · tok/s: client, srv t/s: server decode rate",
            style="dim",
        )

    def on_mount(self) -> None:
        self._composed = True
        self._fit_columns(force=True)
        self._refresh_header()
        self.query_one(DataTable).focus()
        if self._autostart:
            self.start()
        else:
            self._refresh_table()

    def on_resize(self) -> None:
        self._fit_columns()

    def on_unmount(self) -> None:
        # Never leave an engine thread behind the app.
        if self._bridge is not None and self._bench_running:
            self._bridge.cancel()

    # ---------------------------------------------------------------- the benchmark

    @property
    def benchmark_running(self) -> bool:
        return self._bench_running

    def cancel(self) -> None:
        """Stop the benchmark (thread-safe); finished runs are kept."""
        if self._bridge is not None:
            self._bridge.cancel()
            self._refresh_header()

    def start(self) -> None:
        """Start (or restart) the plan with a fresh runner and an empty table."""
        if self._bench_running:
            return
        self.result = empty_result(self.plan)
        self.exchanges.clear()
        self.exchange_count = 0
        self._progress.clear()
        self._error = None
        self._requests_done = 0
        self._requests_total = planned_requests(self.plan)
        bar = self.query_one("#results-progress", ProgressBar)
        bar.update(total=self._requests_total, progress=0)
        self._started_mono = time.monotonic()
        self._elapsed_s = None
        self._bench_running = True
        self._bridge = BenchmarkBridge(
            self.plan, runner_factory=self._runner_factory, log_exchanges=True
        )
        self._rebuild_table()
        self._refresh_header()
        self._drain_timer = self.set_interval(1.0 / DRAIN_HZ, self._drain)
        if self._show_clock:
            self._clock_timer = self.set_interval(1.0, self._refresh_header)
        self._run_benchmark(self._bridge)

    @work(thread=True, group="benchmark", exclusive=True, exit_on_error=False)
    def _run_benchmark(self, bridge: BenchmarkBridge) -> None:
        """Thin: run the engine on its own loop in this thread, then report."""
        try:
            result = bridge.run_blocking()
        except BaseException as exc:  # report every failure; never take the app down
            self.post_message(BenchmarkCompleted(None, error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(BenchmarkCompleted(result))

    def _drain(self) -> None:
        if self._bridge is None:
            return
        events = self._bridge.drain()
        if events:
            self.post_message(BenchmarkEventsArrived(events))

    @on(BenchmarkEventsArrived)
    def _on_events(self, message: BenchmarkEventsArrived) -> None:
        self.apply_events(message.events)

    def apply_events(self, events: Iterable[BenchmarkEvent]) -> None:
        """Fold engine events into the result mirror, then repaint changed cells once."""
        changed = False
        for event in events:
            changed = self._apply(event) or changed
        if changed:
            self._refresh_table()
            self._refresh_header()

    def _model(self, name: str) -> ModelResult | None:
        return self.result.models.get(name)

    def _apply(self, event: BenchmarkEvent) -> bool:
        if isinstance(event, ExchangeLogged):
            self.exchanges.append(event)
            self.exchange_count += 1
            return False
        if isinstance(event, BenchmarkStarted):
            for info in event.models:
                self.result.models.setdefault(info.name, ModelResult(info=info))
            self.result.warmup_requests = event.warmup_requests
            self._requests_total = max(event.total_runs, 1)
            self.query_one("#results-progress", ProgressBar).update(
                total=self._requests_total, progress=self._requests_done
            )
            return True
        if isinstance(event, ModelPhaseChanged):
            mr = self._model(event.model)
            if mr is not None:
                mr.phase = event.phase
            return True
        if isinstance(event, RunFinished):
            mr = self._model(event.record.model)
            if mr is not None:
                mr.records.append(event.record)
            self._progress[event.record.model] = Progress(event.model_done, event.model_total)
            self._requests_done += 1
            self.query_one("#results-progress", ProgressBar).update(
                progress=self._requests_done
            )
            return True
        if isinstance(event, ModelFinished):
            mr = self._model(event.model)
            if mr is not None:
                mr.summary = event.summary
                mr.phase = event.phase
            return True
        if isinstance(event, BenchmarkFinished):
            self.result.cancelled = event.cancelled
            return True
        return False

    @on(BenchmarkCompleted)
    def _on_completed(self, message: BenchmarkCompleted) -> None:
        if self._bridge is not None:
            self.apply_events(self._bridge.drain())
        for timer in (self._drain_timer, self._clock_timer):
            if timer is not None:
                timer.stop()
        self._drain_timer = self._clock_timer = None
        if self._started_mono is not None:
            self._elapsed_s = time.monotonic() - self._started_mono
        self._bench_running = False
        cancelled = bool(self._bridge and self._bridge.cancel_requested)
        if message.result is not None:
            self.result = message.result
            cancelled = cancelled or message.result.cancelled
        else:
            self._error = message.error or "the benchmark failed"
            self.notify(self._error, title="Benchmark failed", severity="error", timeout=10,
                        markup=False)
        if self.result.finished_at is None:
            self.result.finished_at = datetime.now(UTC)
        if cancelled or message.result is None:
            self.result.cancelled = True
            # the engine could not run at all (unreachable...): the unfinished rows failed
            left = ModelPhase.FAILED if message.result is None else ModelPhase.CANCELLED
            for mr in self.result.models.values():
                if mr.phase in _ACTIVE:
                    mr.phase = left
        self._refresh_table()
        self._refresh_header()

    # ---------------------------------------------------------------------- header

    def _refresh_header(self) -> None:
        if not self._composed:
            return
        text = Text()
        if self._bench_running:
            if self._bridge is not None and self._bridge.cancel_requested:
                text.append("stopping… ", style="bold yellow")
            else:
                text.append("running ", style="bold cyan")
        elif self._error:
            text.append("failed ", style="bold red")
            text.append(f"{self._error} · ", style="red")
        elif self.result.cancelled:
            text.append("cancelled ", style="bold yellow")
        elif self._requests_done:
            text.append("done ", style="bold green")
        else:
            text.append("ready ", style="dim")
        text.append(f"{self._requests_done}/{self._requests_total} requests")
        if self._show_clock:
            elapsed = self._elapsed_s
            if elapsed is None and self._started_mono is not None:
                elapsed = time.monotonic() - self._started_mono
            if elapsed is not None:
                minutes, seconds = divmod(int(elapsed), 60)
                text.append(f" · elapsed {minutes}:{seconds:02d}")
        agg = self._aggregate_tps()
        if agg is not None:
            text.append(f" · {agg:.1f} output tok/s overall")
        self.query_one("#results-status", Static).update(text)

    def _aggregate_tps(self) -> float | None:
        """Output tokens of measured runs over the window they span (engine clock)."""
        records = [
            r for m in self.result.models.values() for r in m.records if not r.warmup and r.ok
        ]
        tokens = sum(r.output_tokens or 0 for r in records)
        if not records or not tokens:
            return None
        window = max(r.finished_at_s for r in records) - min(r.started_at_s for r in records)
        return tokens / window if window > 0 else None

    # ----------------------------------------------------------------------- table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#results-table", DataTable)

    def _available_width(self) -> int:
        return max(self.size.width - 2, 0)

    def _fit_columns(self, *, force: bool = False) -> None:
        fitted = fit_columns(self._all_columns, self._available_width())
        if force or [c.key for c in fitted] != [c.key for c in self._columns]:
            self._columns = fitted
            self._rebuild_table()

    def _rows(self) -> dict[str, Row]:
        per_run = per_run_count(self.plan) if self._per_run else 0
        rows = {
            name: build_row(mr, self.plan, progress=self._progress.get(name), per_run=per_run)
            for name, mr in self.result.models.items()
        }
        return apply_colours(rows, self._all_columns)

    def _cursor_row_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        except Exception:
            return None
        return row_key.value

    def _rebuild_table(self) -> None:
        """Columns changed (view toggled, terminal resized): lay the table out again."""
        if not self._composed:
            return
        table = self.table
        keep = self._cursor_row_key()
        rows = self._rows()
        order = sort_order(rows, self._sort_key, descending=self._descending)
        with self.app.batch_update():
            table.clear(columns=True)
            for col in self._columns:
                table.add_column(
                    header_label(col, sorted_by=self._sort_key, descending=self._descending),
                    width=col.render_width,
                    key=col.key,
                )
            for key in order:
                table.add_row(*(rows[key][c.key].render() for c in self._columns), key=key)
            self._shown = rows
            self._table_order = order
            self._restore_cursor(keep)

    def _refresh_table(self) -> None:
        """Update only the cells that changed, then re-sort keeping the cursor's row."""
        if not self._composed:
            return
        table = self.table
        rows = self._rows()
        diff = diff_rows(self._shown, rows, (c.key for c in self._columns))
        if diff.empty:
            self._shown = rows
            self._resort()
            return
        keep = self._cursor_row_key()
        with self.app.batch_update():
            for key in diff.removed:
                with contextlib.suppress(RowDoesNotExist):
                    table.remove_row(key)
            for key in diff.added:
                table.add_row(*(rows[key][c.key].render() for c in self._columns), key=key)
            for key, col, cell in diff.changed:
                table.update_cell(key, col, cell.render())
            self._shown = rows
            self._resort(keep=keep)

    def _resort(self, *, keep: str | None = None, force: bool = False) -> None:
        table = self.table
        order = sort_order(self._shown, self._sort_key, descending=self._descending)
        if not force and order == self._table_order:
            return
        keep = keep if keep is not None else self._cursor_row_key()
        for col in self._columns:
            table.columns[ColumnKey(col.key)].label = header_label(
                col, sorted_by=self._sort_key, descending=self._descending
            )
        rank = {key: i for i, key in enumerate(order)}
        table.sort("model", key=lambda cell: rank.get(cell.plain, len(rank)))
        self._table_order = order
        self._restore_cursor(keep)

    def _restore_cursor(self, key: str | None) -> None:
        if key is None:
            return
        table = self.table
        try:
            index = table.get_row_index(key)
        except RowDoesNotExist:
            return
        table.move_cursor(row=index, animate=False)

    def _set_sort(self, key: str | None, descending: bool) -> None:
        self._sort_key = key
        self._descending = descending
        with self.app.batch_update():
            self._resort(force=True)

    # --------------------------------------------------------------------- actions

    def _sort_column_index(self) -> int | None:
        keys = [c.key for c in self._columns]
        return keys.index(self._sort_key) if self._sort_key in keys else None

    def _sort_by_index(self, index: int) -> None:
        col = self._columns[index % len(self._columns)]
        self._set_sort(col.key, default_descending(col))

    def action_sort_next(self) -> None:
        current = self._sort_column_index()
        self._sort_by_index(0 if current is None else current + 1)

    def action_sort_previous(self) -> None:
        current = self._sort_column_index()
        self._sort_by_index(-1 if current is None else current - 1)

    def action_reverse_sort(self) -> None:
        if self._sort_key is None:
            self._sort_by_index(0)
            return
        self._set_sort(self._sort_key, not self._descending)

    @on(DataTable.HeaderSelected, "#results-table")
    def _on_header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        col = next((c for c in self._columns if c.key == key), None)
        if col is None:
            return
        if self._sort_key == key:
            self._set_sort(key, not self._descending)
        else:
            self._set_sort(key, default_descending(col))

    def action_toggle_per_run(self) -> None:
        self._per_run = not self._per_run
        self._all_columns = columns_for_view(self.plan, per_run=self._per_run)
        self._fit_columns(force=True)

    @property
    def per_run_view(self) -> bool:
        return self._per_run

    @property
    def sort_state(self) -> tuple[str | None, bool]:
        return self._sort_key, self._descending

    @property
    def visible_columns(self) -> list[str]:
        return [c.key for c in self._columns]

    def row_order(self) -> list[str]:
        """Model names in the order the table shows them."""
        return [row.key.value or "" for row in self.table.ordered_rows]

    def highlighted_model(self) -> str | None:
        return self._cursor_row_key()

    @on(DataTable.RowSelected, "#results-table")
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_detail(event.row_key.value)

    def action_open_detail(self) -> None:
        self._open_detail(self._cursor_row_key())

    def _open_detail(self, model: str | None) -> None:
        if model is None or model not in self.result.models:
            return
        from ometer_tui.tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(self, model))

    def action_back(self) -> None:
        if not self._bench_running:
            self.app.pop_screen()
            return
        from ometer_tui.tui.screens.confirm import ConfirmScreen

        def answered(stop: bool | None) -> None:
            if stop:
                self.cancel()

        self.app.push_screen(
            ConfirmScreen(
                "Stop the benchmark? Finished runs are kept; the rest show as cancelled.",
                title="Benchmark running",
                yes="Stop",
                no="Keep running",
                danger=True,
            ),
            answered,
        )

    def action_rerun(self) -> None:
        if self._bench_running:
            self.notify("A benchmark is running: stop it first (Escape).", severity="warning")
            return
        self.start()

    def action_export(self) -> None:
        from ometer_tui.tui.screens.export_menu import ExportMenu

        if self._bench_running:
            self.notify("Exporting the runs finished so far (the benchmark is still running).")
        self.app.push_screen(ExportMenu(self.result))

    def action_debug_log(self) -> None:
        from ometer_tui.tui.screens.debug_log import DebugLogScreen

        self.app.push_screen(DebugLogScreen(self))
