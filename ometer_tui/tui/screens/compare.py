"""Two saved results side by side: per metric A, B, the difference, its confidence
interval and a verdict (the core's :func:`~ometer_tui.core.compare.compare_documents`,
shown with its plain-text table formatter, verdicts coloured).

Wiring only: :func:`compare_saved` reads the two documents (call it in a thread) and
compares them; :class:`CompareScreen` shows the comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Footer, Static

from ometer_tui.core.compare import Comparison, compare_documents, comparison_to_table
from ometer_tui.core.history import HistoryStore


def compare_saved(path: Path, id_a: int, id_b: int) -> Comparison:
    """Compare history results ``id_a`` (A) and ``id_b`` (B). Blocking (SQLite): run it
    in a thread. Raises ``HistoryError`` / ``CompareError``."""
    with HistoryStore(path) as store:
        doc_a, doc_b = store.document(id_a), store.document(id_b)
    return compare_documents(doc_a, doc_b, source_a=f"history #{id_a}", source_b=f"history #{id_b}")


def comparison_text(comparison: Comparison) -> Text:
    """The comparison's table with its verdicts coloured (better green, worse red)."""
    text = Text(comparison_to_table(comparison), no_wrap=True)
    text.highlight_regex(r"(?m)(?<=  )better$", "bold green")
    text.highlight_regex(r"(?m)(?<=  )worse$", "bold red")
    text.highlight_regex(r"(?m)(?<=  )too few runs.*$", "yellow")
    text.highlight_regex(r"(?m)^[AB]: .*$", "bold")
    return text


class CompareScreen(Screen[None]):
    """Shows ``comparison`` (B against A)."""

    HELP_TITLE = "Compare"

    DEFAULT_CSS = """
    #compare-table { width: auto; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="compare.back", tooltip="Back"),
    ]

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        with ScrollableContainer(id="compare-body"):
            yield Static(comparison_text(self.comparison), id="compare-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#compare-body").focus()
