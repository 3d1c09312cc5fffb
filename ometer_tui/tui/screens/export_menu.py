"""Export the results: pick a format, accept or edit the path, write it atomically."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import ExportFormat, default_export_path
from ometer_tui.core.report import write_export
from ometer_tui.tui.screens.export_dialog import ExportDialog
from ometer_tui.tui.session import BenchmarkSession

FORMATS: tuple[tuple[ExportFormat, str], ...] = (
    (ExportFormat.JSON, "JSON    full results, versioned schema"),
    (ExportFormat.CSV, "CSV     one line per run (long format)"),
    (ExportFormat.MD, "Markdown  summary table, ready to paste"),
    (ExportFormat.HTML, "HTML    report with charts, opens offline"),
)


class ExportMenu(ExportDialog):
    """Exports the session's result; dismisses with the path written, or ``None`` when
    cancelled (the caller tells the session it was exported).

    Enter on the format list (or in the path field) exports; the path starts as
    ``default_export_path`` in the current folder and follows the format until edited.
    An existing file is only overwritten after a yes. Failures are shown here, never
    raised (:class:`~ometer_tui.tui.screens.export_dialog.ExportDialog`).
    """

    HELP_TITLE = "Export"
    DIALOG_TITLE = "Export results"
    FORMATS: ClassVar[tuple[tuple[str, str], ...]] = tuple((f.value, label) for f, label in FORMATS)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting"
        ),
        Binding("ctrl+e", "export", "Export", id="export.export", tooltip="Write the file"),
    ]

    def __init__(self, session: BenchmarkSession, *, folder: Path | None = None) -> None:
        self.session = session
        super().__init__(folder=folder)

    @property
    def result(self) -> BenchmarkResult:
        """The session's result as it stands (a running benchmark's runs so far)."""
        return self.session.result

    def format_of(self, format_id: str) -> ExportFormat:
        return ExportFormat(format_id)

    def default_path(self, fmt: str) -> Path:
        return default_export_path(
            self.result, ExportFormat(fmt), folder=self._folder or Path.cwd()
        )

    def write(self, path: Path) -> Path:
        return write_export(self.result, ExportFormat(self.format), path)

    def written_title(self) -> str:
        return f"Exported {ExportFormat(self.format).name}"

    def on_mount(self) -> None:
        super().on_mount()
        self._say_if_partial()
        self.session.changed.subscribe(self, lambda _change: self._say_if_partial())

    def _say_if_partial(self) -> None:
        partial = self.session.running or self.result.cancelled
        text = "Partial result: only the runs finished so far." if partial else ""
        self._message(text, "yellow")
