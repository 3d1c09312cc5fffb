"""Export the results: pick a format, accept or edit the path, write it atomically."""

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

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import ExportFormat, default_export_path
from ometer_tui.core.report import write_export
from ometer_tui.tui.session import BenchmarkSession

FORMATS: tuple[tuple[ExportFormat, str], ...] = (
    (ExportFormat.JSON, "JSON    full results, versioned schema"),
    (ExportFormat.CSV, "CSV     one line per run (long format)"),
    (ExportFormat.MD, "Markdown  summary table, ready to paste"),
    (ExportFormat.HTML, "HTML    report with charts, opens offline"),
)


class ExportMenu(ModalScreen[Path | None]):
    """Exports the session's result; dismisses with the path written, or ``None`` when
    cancelled (the caller tells the session it was exported).

    Enter on the format list (or in the path field) exports; the path starts as
    ``default_export_path`` in the current folder and follows the format until edited.
    An existing file is only overwritten after a yes. Failures are shown here, never
    raised.
    """

    HELP_TITLE = "Export"
    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting"
        ),
        Binding("ctrl+e", "export", "Export", id="export.export", tooltip="Write the file"),
    ]

    def __init__(self, session: BenchmarkSession, *, folder: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self._folder = folder
        self.format = ExportFormat.JSON
        self._path_edited = False
        self._setting_path = False

    @property
    def result(self) -> BenchmarkResult:
        """The session's result as it stands (a running benchmark's runs so far)."""
        return self.session.result

    def default_path(self, fmt: ExportFormat) -> Path:
        return default_export_path(self.result, fmt, folder=self._folder or Path.cwd())

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-dialog"):
            yield Static(Text("Export results", style="bold"), id="export-title")
            yield OptionList(
                *(Option(label, id=fmt.value) for fmt, label in FORMATS), id="export-formats"
            )
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
        self._say_if_partial()
        self.session.changed.subscribe(self, lambda _change: self._say_if_partial())

    def _say_if_partial(self) -> None:
        partial = self.session.running or self.result.cancelled
        text = "Partial result: only the runs finished so far." if partial else ""
        self._message(text, "yellow")

    # -- format and path

    @on(OptionList.OptionHighlighted, "#export-formats")
    def _on_format(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is None:
            return
        self.format = ExportFormat(event.option.id)
        path_input = self.query_one("#export-path", Input)
        if not self._path_edited:
            self._set_path(str(self.default_path(self.format)))
        else:
            # keep the user's folder and name, follow the format's extension
            current = Path(path_input.value.strip() or str(self.default_path(self.format)))
            if current.suffix.lower() in {f.suffix for f, _ in FORMATS}:
                self._set_path(str(current.with_suffix(self.format.suffix)))

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
    def _on_format_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_export()

    @on(Input.Submitted, "#export-path")
    def _on_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export()

    @on(Button.Pressed, "#export-ok")
    def _on_ok(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_export()

    @on(Button.Pressed, "#export-cancel")
    def _on_cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    # -- writing

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
        if path.exists():
            from ometer_tui.tui.screens.confirm import ConfirmScreen

            def answered(overwrite: bool | None) -> None:
                if overwrite:
                    self._write(path)
                else:
                    self._message("Not overwritten: edit the path to export elsewhere.", "yellow")

            self.app.push_screen(
                ConfirmScreen(
                    f"{path} exists. Overwrite it?",
                    title="File exists",
                    yes="Overwrite",
                    no="Keep it",
                    danger=True,
                ),
                answered,
            )
            return
        self._write(path)

    def _write(self, path: Path) -> None:
        try:
            written = write_export(self.result, self.format, path)
        except OSError as exc:
            detail = exc.strerror or str(exc)
            name = exc.filename or path
            self._message(f"Could not write {name}: {detail}", "bold red")
            self.app.notify(
                f"{name}: {detail}", title="Export failed", severity="error", markup=False
            )
            return
        except Exception as exc:  # an export bug must not take the app down
            self._message(f"Export failed: {type(exc).__name__}: {exc}", "bold red")
            return
        self.app.notify(f"{written}", title=f"Exported {self.format.name}", markup=False, timeout=8)
        self.dismiss(written)

    def _message(self, text: str, style: str) -> None:
        self.query_one("#export-message", Static).update(Text(text, style=style))
