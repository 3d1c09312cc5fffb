"""Export a comparison: pick a format, accept or edit the path, write it atomically.

The files are the core's (:func:`~ometer_tui.core.compare.comparison_text`): the same
JSON, CSV and Markdown as ``ometer-tui compare ... --format``. Looks like the results'
export menu (same dialog, same keys).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from ometer_tui.core.atomic import write_atomic
from ometer_tui.core.compare import Comparison, comparison_text, default_comparison_path

FORMATS: tuple[tuple[str, str], ...] = (
    ("json", "JSON      every metric, interval and verdict"),
    ("csv", "CSV       one line per pair and metric"),
    ("md", "Markdown  the table, ready to paste"),
)
_SUFFIXES = {".json", ".csv", ".md", ".txt"}


class CompareExportMenu(ModalScreen[Path | None]):
    """Writes ``comparison``; dismisses with the path written, or ``None`` when
    cancelled. Enter on a format (or in the path) writes; the path follows the format
    until edited; an existing file is overwritten only after a yes; a failure is shown
    here, never raised."""

    HELP_TITLE = "Export the comparison"
    CSS_PATH = "../results.tcss"
    DEFAULT_CSS = "CompareExportMenu { align: center middle; }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="compare_export.cancel",
                tooltip="Close without exporting"),
        Binding("ctrl+e", "export", "Export", id="compare_export.export",
                tooltip="Write the file"),
    ]  # fmt: skip

    def __init__(self, comparison: Comparison, *, folder: Path | None = None) -> None:
        super().__init__()
        self.comparison = comparison
        self._folder = folder
        self.format = "json"
        self._path_edited = False
        self._setting_path = False

    def default_path(self, fmt: str) -> Path:
        return default_comparison_path(self.comparison, fmt, self._folder or Path.cwd())

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-dialog"):
            yield Static(Text("Export the comparison", style="bold"), id="export-title")
            yield OptionList(*(Option(label, id=fmt) for fmt, label in FORMATS),
                             id="export-formats")  # fmt: skip
            yield Static("Path", id="export-path-label")
            yield Input(str(self.default_path(self.format)), id="export-path")
            yield Static("", id="export-message")
            with Horizontal(id="export-buttons"):
                yield Button("Export", id="export-ok", variant="primary", compact=True)
                yield Button("Cancel", id="export-cancel", compact=True)

    def on_mount(self) -> None:
        options = self.query_one("#export-formats", OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionHighlighted, "#export-formats")
    def _on_format(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is None:
            return
        self.format = event.option.id
        if not self._path_edited:
            self._set_path(str(self.default_path(self.format)))
            return
        current = Path(self.query_one("#export-path", Input).value.strip() or ".")
        if current.suffix.lower() in _SUFFIXES:  # keep the user's name, follow the format
            self._set_path(str(current.with_suffix(self.default_path(self.format).suffix)))

    def _set_path(self, value: str) -> None:
        self._setting_path = True
        path_input = self.query_one("#export-path", Input)
        path_input.value = value
        path_input.cursor_position = len(value)
        self._setting_path = False

    @on(Input.Changed, "#export-path")
    def _on_path_changed(self, event: Input.Changed) -> None:
        if not self._setting_path:
            self._path_edited = True

    @on(OptionList.OptionSelected, "#export-formats")
    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _on_export(
        self, event: OptionList.OptionSelected | Input.Submitted | Button.Pressed
    ) -> None:
        event.stop()
        self.action_export()

    @on(Button.Pressed, "#export-cancel")
    def _on_cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def target_path(self) -> Path:
        raw = self.query_one("#export-path", Input).value.strip()
        if not raw:
            return self.default_path(self.format)
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (self._folder or Path.cwd()) / path
        if path.is_dir():
            path = path / self.default_path(self.format).name
        return path

    def action_export(self) -> None:
        path = self.target_path()
        if not path.exists():
            self._write(path)
            return
        from ometer_tui.tui.screens.confirm import ConfirmScreen

        def answered(overwrite: bool | None) -> None:
            if overwrite:
                self._write(path)
            else:
                self._message("Not overwritten: edit the path to export elsewhere.", "yellow")

        self.app.push_screen(
            ConfirmScreen(f"{path} exists. Overwrite it?", title="File exists",
                          yes="Overwrite", no="Keep it", danger=True),
            answered,
        )  # fmt: skip

    def _write(self, path: Path) -> None:
        try:
            write_atomic(path, comparison_text(self.comparison, self.format), mode=0o644)
        except OSError as exc:
            detail = exc.strerror or str(exc)
            self._message(f"Could not write {exc.filename or path}: {detail}", "bold red")
            return
        self.app.notify(str(path), title=f"Comparison exported ({self.format})", markup=False,
                        timeout=8)  # fmt: skip
        self.dismiss(path)

    def _message(self, text: str, style: str) -> None:
        self.query_one("#export-message", Static).update(Text(text, style=style))
