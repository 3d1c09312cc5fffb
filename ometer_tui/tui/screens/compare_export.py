"""Export a comparison: pick a format, accept or edit the path, write it atomically.

The files are the core's (:func:`~ometer_tui.core.compare.comparison_text`): the same
JSON, CSV and Markdown as ``ometer-tui compare ... --format``. The same dialog as the
results' export menu (:class:`~ometer_tui.tui.screens.export_dialog.ExportDialog`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType

from ometer_tui.core.atomic import write_atomic
from ometer_tui.core.compare import Comparison, comparison_text, default_comparison_path
from ometer_tui.tui.screens.export_dialog import ExportDialog

FORMATS: tuple[tuple[str, str], ...] = (
    ("json", "JSON      every metric, interval and verdict"),
    ("csv", "CSV       one line per pair and metric"),
    ("md", "Markdown  the table, ready to paste"),
)


class CompareExportMenu(ExportDialog):
    """Writes ``comparison``; dismisses with the path written, or ``None`` when
    cancelled."""

    HELP_TITLE = "Export the comparison"
    DIALOG_TITLE = "Export the comparison"
    DEFAULT_CSS = "CompareExportMenu { align: center middle; }"
    FORMATS: ClassVar[tuple[tuple[str, str], ...]] = FORMATS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="compare_export.cancel",
                tooltip="Close without exporting"),
        Binding("ctrl+e", "export", "Export", id="compare_export.export",
                tooltip="Write the file"),
    ]  # fmt: skip

    def __init__(self, comparison: Comparison, *, folder: Path | None = None) -> None:
        self.comparison = comparison
        super().__init__(folder=folder)

    def default_path(self, fmt: str) -> Path:
        return default_comparison_path(self.comparison, fmt, self._folder or Path.cwd())

    def write(self, path: Path) -> Path:
        write_atomic(path, comparison_text(self.comparison, self.format), mode=0o644)
        return path

    def written_title(self) -> str:
        return f"Comparison exported ({self.format})"
