"""The history's results in a table (on the shared :class:`FittedTable`): filter, sort, marks.

State flows down: :meth:`HistoryTable.show` gets the entries (as the store lists them),
the filter text and the marked ids; sorting is on the entries' values, never on display
text. :func:`filter_entries` and :func:`sort_entries` are the rules, kept pure for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from rich.text import Text

from ometer_tui.core.history import HistoryEntry
from ometer_tui.tui.widgets.fitted_table import FitColumn, FittedTable

HISTORY_COLUMNS: tuple[FitColumn, ...] = (
    FitColumn("id", "#", cap=6),
    FitColumn("date", "Date", width=16, minimum=10),
    FitColumn("endpoint", "Endpoint", minimum=8, cap=20, cut="middle"),
    FitColumn("models", "Models", minimum=12, cap=30),
    FitColumn("runs", "ok/fail", cap=14),
    FitColumn("plan", "Plan", minimum=14, cap=30, priority=2),
    FitColumn("label", "Label", minimum=6, cap=20, priority=1, squeeze=True),
)

#: column key -> the value it sorts on (and whether it sorts descending first)
_SORT_KEYS: dict[str, tuple[Callable[[HistoryEntry], object], bool]] = {
    "id": (lambda e: e.id, True),
    "date": (lambda e: e.started_at or e.saved_at, True),
    "endpoint": (lambda e: e.endpoint.lower(), False),
    "models": (lambda e: ", ".join(e.models).lower(), False),
    "runs": (lambda e: (e.runs, e.ok), True),
    "plan": (lambda e: e.plan, False),
    "label": (lambda e: (e.label is None, (e.label or "").lower()), False),
}
SORT_ORDER: tuple[str, ...] = tuple(c.key for c in HISTORY_COLUMNS)


def natural_descending(key: str) -> bool:
    """Whether column ``key`` sorts best-first descending (newest, most runs)."""
    return _SORT_KEYS[key][1]


def filter_entries(entries: Sequence[HistoryEntry], query: str) -> list[HistoryEntry]:
    """The entries whose endpoint, URL, models, plan, label or ``#id`` hold every word
    of ``query`` (case-insensitive); all of them for an empty query."""
    words = query.lower().split()
    if not words:
        return list(entries)

    def haystack(e: HistoryEntry) -> str:
        sim = " simulated" if e.simulated else ""
        return " ".join(
            [f"#{e.id}", e.endpoint, e.url, *e.models, e.plan, e.label or "", e.saved_at, sim]
        ).lower()

    return [e for e in entries if all(w in haystack(e) for w in words)]


def sort_entries(entries: Sequence[HistoryEntry], key: str, descending: bool) -> list[HistoryEntry]:
    """``entries`` ordered by column ``key`` (ties: newest first)."""
    value = _SORT_KEYS[key][0]
    by_id = sorted(entries, key=lambda e: e.id, reverse=True)
    return sorted(by_id, key=value, reverse=descending)  # type: ignore[arg-type]


def entry_cells(entry: HistoryEntry, marked: bool) -> dict[str, Text]:
    ident = Text(f"{entry.id}")
    if marked:
        ident = Text("● ", style="bold cyan") + ident
    date = (entry.started_at or entry.saved_at).replace("T", " ")[:16]
    endpoint = Text(entry.endpoint)
    if entry.simulated:
        endpoint.append(" ★", style="yellow")
    runs = Text(f"{entry.ok}")
    if entry.errors:
        runs.append(f"/{entry.errors}", style="red")
    else:
        runs.append("/0", style="dim")
    if entry.cancelled:
        runs.append(" cancelled", style="yellow")
    return {
        "id": ident,
        "date": Text(date),
        "endpoint": endpoint,
        "models": Text(", ".join(entry.models)),
        "runs": runs,
        "plan": Text(entry.plan, style="dim"),
        "label": Text(entry.label or "", style="bold"),
    }


class HistoryTable(FittedTable):
    """Saved results, one row per result keyed by its id (as a string)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(HISTORY_COLUMNS, sortable=True, id=id)

    def show(
        self,
        entries: Sequence[HistoryEntry],
        sort: tuple[str, bool],
        marked: Collection[int] = (),
    ) -> None:
        key, descending = sort
        self.show_rows({
            str(e.id): entry_cells(e, e.id in marked)
            for e in sort_entries(entries, key, descending)
        })  # fmt: skip
        self.set_sort_indicator(key, descending)

    def highlighted_id(self) -> int | None:
        key = self.highlighted_key
        return int(key) if key is not None else None
