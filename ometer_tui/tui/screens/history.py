"""The history: every saved result, filtered, sorted, labelled, deleted, opened.

Wiring only. The rows are a :class:`HistoryTable`; the store is read and written in a
thread (SQLite may wait on another ometer-tui's lock; the UI never does). Enter posts
:class:`~ometer_tui.tui.messages.ResultOpened` upwards: the app shows the result on the
results screen as a loaded session (sort, detail, per-run view and export work there).
Typing a printable key that is not bound starts the filter, as on the model picker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ometer_tui.core.export_read import ForeignDocumentError, result_from_dict
from ometer_tui.core.history import HistoryEntry, HistoryError, HistoryStore
from ometer_tui.tui.messages import ResultOpened
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.text_prompt import TextPrompt
from ometer_tui.tui.widgets.filter_box import FilterBox
from ometer_tui.tui.widgets.history_table import (
    HISTORY_COLUMNS,
    SORT_ORDER,
    HistoryTable,
    filter_entries,
    natural_descending,
)

T = TypeVar("T")


class HistoryScreen(Screen[None]):
    """The results saved in the history database at ``path``."""

    HELP_TITLE = "History"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="history.back",
                tooltip="Back (from the filter: to the list)"),
        Binding("enter", "open", "Open", id="history.open",
                tooltip="Open the highlighted result on the results screen"),
        Binding("l", "label", "Label", id="history.label",
                tooltip="Label the highlighted result"),
        Binding("delete,x", "delete", "Delete", id="history.delete",
                tooltip="Delete the highlighted result from the history (asks first)"),
        Binding("s", "sort_step(1)", "Sort →", id="history.sort_next",
                tooltip="Sort by the next column to the right"),
        Binding("S", "sort_step(-1)", "Sort ←", id="history.sort_previous", show=False,
                tooltip="Sort by the next column to the left"),
        Binding("r", "reverse_sort", "Reverse", id="history.reverse", show=False,
                tooltip="Reverse the sort order"),
        Binding("slash", "focus_filter", "Filter", id="history.filter",
                tooltip="Filter by endpoint, model, plan, label or #id"),
        Binding("space", "toggle_mark", "Mark", id="history.mark",
                tooltip="Mark or unmark the highlighted result (two to compare)"),
        Binding("c", "compare", "Compare", id="history.compare",
                tooltip="Compare the two marked results (older is A)"),
    ]  # fmt: skip

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.entries: list[HistoryEntry] = []
        self.sort: tuple[str, bool] = ("id", True)
        self.error: str | None = None
        self.loaded = False
        #: marked result ids (two to compare), oldest mark first
        self.marked: list[int] = []
        self._typing_into_filter = False

    def compose(self) -> ComposeResult:
        yield Static(id="history-status")
        yield FilterBox(placeholder="filter: endpoint, model, plan, label or #id",
                        id="history-filter")  # fmt: skip
        yield HistoryTable(id="history-table")
        yield Footer(compact=True)

    @property
    def table(self) -> HistoryTable:
        return self.query_one("#history-table", HistoryTable)

    def on_mount(self) -> None:
        self.table.focus()
        self._set_status(Text(f"Reading {self.path}…", style="dim"))
        self.reload()

    async def _in_store(self, job: Callable[[HistoryStore], T]) -> T | None:
        """``job`` on the open store in a thread; on failure ``None`` and a notice."""

        def run() -> T:
            with HistoryStore(self.path) as store:
                return job(store)

        try:
            return await asyncio.to_thread(run)
        except (HistoryError, OSError) as exc:
            self.error = str(exc)
            self.notify(str(exc), title="History", severity="error", markup=False)
            self._show()
            return None

    @work(group="history", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        if not self.path.exists():  # never create a database only to show it is empty
            self.entries, self.error = [], None
        else:
            entries = await self._in_store(lambda store: store.entries())
            if entries is not None:
                self.entries, self.error = entries, None
                self.marked = [i for i in self.marked if any(e.id == i for e in entries)]
        self.loaded = True
        self._show()

    def _show(self) -> None:
        query = self.query_one("#history-filter", FilterBox).value
        shown = filter_entries(self.entries, query)
        self.table.show(shown, self.sort, self.marked)
        if self.error is not None:
            self._set_status(Text(self.error, style="red"))
        elif not self.entries:
            self._set_status(Text(f"No results saved yet in {self.path}", style="dim"))
        else:
            count = f"{len(shown)} of {len(self.entries)}" if query else f"{len(shown)}"
            self._set_status(Text(f"{count} results · {self.path}", style="dim"))

    def _set_status(self, text: Text) -> None:
        self.query_one("#history-status", Static).update(text)

    def highlighted(self) -> HistoryEntry | None:
        ident = self.table.highlighted_id()
        return next((e for e in self.entries if e.id == ident), None)

    def on_key(self, event: events.Key) -> None:
        """Type to filter: a printable key with no binding starts the filter."""
        char = event.character
        if self.focused is not self.table or not event.is_printable or not char:
            return
        if char.isspace() or (
            not self._typing_into_filter and event.key in self.app.active_bindings
        ):
            return
        event.stop()
        event.prevent_default()
        self._typing_into_filter = True
        box = self.query_one("#history-filter", FilterBox)
        box.focus()
        box.insert_text_at_cursor(char)

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        if event.widget is self.table:
            self._typing_into_filter = False

    @on(FilterBox.Changed, "#history-filter")
    def _filter_changed(self, event: FilterBox.Changed) -> None:
        event.stop()
        self._show()

    @on(FilterBox.ToggleRequested)
    def _filter_toggle(self, event: FilterBox.ToggleRequested) -> None:
        event.stop()
        self.action_toggle_mark()

    @on(FilterBox.Left)
    def _filter_left(self, event: FilterBox.Left) -> None:
        event.stop()
        self.table.focus()

    def action_focus_filter(self) -> None:
        box = self.query_one("#history-filter", FilterBox)
        box.focus()
        box.select_all()

    def action_sort_step(self, step: int) -> None:
        shown = [k for k in SORT_ORDER if k in self.table.visible_columns] or list(SORT_ORDER)
        key = self.sort[0]
        index = shown.index(key) if key in shown else -1
        new = shown[(index + step) % len(shown)]
        self.sort = (new, natural_descending(new))
        self._show()

    def action_reverse_sort(self) -> None:
        self.sort = (self.sort[0], not self.sort[1])
        self._show()

    def action_sort_by(self, key: str) -> None:
        self.sort = (key, natural_descending(key))
        self._show()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            (f"History: sort by {c.label}", f"sort_by({c.key!r})", "History: r reverses")
            for c in HISTORY_COLUMNS
        ]

    # ------------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#history-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        entry = self.highlighted()
        if entry is not None:
            self._open(entry.id)

    @work(group="history-open", exclusive=True, exit_on_error=False)
    async def _open(self, result_id: int) -> None:
        doc = await self._in_store(lambda store: store.document(result_id))
        if doc is None:
            return
        try:
            result = result_from_dict(doc)
        except ForeignDocumentError as exc:
            self.notify(f"Result #{result_id} cannot be shown: {exc}", title="History",
                        severity="error", markup=False)  # fmt: skip
            return
        self.post_message(ResultOpened(result, result_id))

    def action_toggle_mark(self) -> None:
        entry = self.highlighted()
        if entry is not None:
            marked = [i for i in self.marked if i != entry.id]
            self.marked = marked if entry.id in self.marked else [*marked, entry.id][-2:]
            self._show()

    @work(group="history-open", exclusive=True, exit_on_error=False)
    async def action_compare(self) -> None:
        from ometer_tui.core.compare import CompareError
        from ometer_tui.tui.screens.compare import CompareScreen, compare_saved

        if len(self.marked) != 2:
            self.notify("Mark two results with space, then press c.", severity="warning")
            return
        a, b = sorted(self.marked)
        try:
            comparison = await asyncio.to_thread(compare_saved, self.path, a, b)
        except (CompareError, HistoryError, OSError) as exc:
            self.notify(str(exc), title="Compare", severity="error", markup=False)
            return
        self.app.push_screen(CompareScreen(comparison))

    def action_label(self) -> None:
        entry = self.highlighted()
        if entry is None:
            return

        def answered(label: str | None) -> None:
            if label is not None:
                self._write(lambda store: store.set_label(entry.id, label or None))

        self.app.push_screen(
            TextPrompt(f"Label of result #{entry.id} (empty: none)", entry.label or ""),
            answered,
        )

    def action_delete(self) -> None:
        entry = self.highlighted()
        if entry is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._write(lambda store: store.delete(entry.id))

        self.app.push_screen(
            ConfirmScreen(
                f"Delete result #{entry.id} ({', '.join(entry.models)} on {entry.endpoint}) "
                "from the history? This cannot be undone.",
                title="Delete?", yes="Delete", no="Keep", danger=True,
            ),
            answered,
        )  # fmt: skip

    @work(group="history-write", exit_on_error=False)
    async def _write(self, job: Callable[[HistoryStore], None]) -> None:
        await self._in_store(job)
        self.reload()

    def action_back(self) -> None:
        if self.focused is not self.table:
            self.table.focus()
        else:
            self.app.pop_screen()
