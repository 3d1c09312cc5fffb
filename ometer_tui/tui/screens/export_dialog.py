"""The export dialog both exports share: pick a format, accept or edit the path, write.

A subclass names its formats (:attr:`ExportDialog.FORMATS`, ``(id, label)``), its title,
the default path of a format and how a file is written; the dialog does the rest: the
path follows the format until the user edits it (then only its extension does), Enter on
a format or in the path writes, an existing file is overwritten only after a yes, and a
failure is shown in the dialog, never raised. Dismisses with the path written, or
``None`` when cancelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option


class ExportDialog(ModalScreen[Path | None]):
    """Base of the export modals (see the module docstring)."""

    CSS_PATH = "../results.tcss"
    #: (format id, label) in the order shown; the first is highlighted
    FORMATS: ClassVar[tuple[tuple[str, str], ...]] = ()
    DIALOG_TITLE: ClassVar[str] = "Export"

    def __init__(self, *, folder: Path | None = None) -> None:
        super().__init__()
        self._folder = folder
        self.format: str = self.format_of(self.FORMATS[0][0])
        self._path_edited = False
        self._setting_path = False

    # -- what a subclass gives

    def format_of(self, format_id: str) -> str:
        """The format value for an option id (a subclass may return an enum member)."""
        return format_id

    def default_path(self, fmt: str) -> Path:
        raise NotImplementedError

    def write(self, path: Path) -> Path:
        """Write the file; return the path written. Raises ``OSError``."""
        raise NotImplementedError

    def written_title(self) -> str:
        return f"Exported {self.format}"

    # -- the dialog

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-dialog"):
            yield Static(Text(self.DIALOG_TITLE, style="bold"), id="export-title")
            yield OptionList(
                *(Option(label, id=fmt) for fmt, label in self.FORMATS), id="export-formats"
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

    @on(OptionList.OptionHighlighted, "#export-formats")
    def _on_format(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is None:
            return
        self.format = self.format_of(event.option.id)
        if not self._path_edited:
            self._set_path(str(self.default_path(self.format)))
            return
        # keep the user's folder and name, follow the format's extension
        path_input = self.query_one("#export-path", Input)
        current = Path(path_input.value.strip() or str(self.default_path(self.format)))
        known = {self.default_path(self.format_of(f)).suffix.lower() for f, _ in self.FORMATS}
        if current.suffix.lower() in known:
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
            written = self.write(path)
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
        self.app.notify(str(written), title=self.written_title(), markup=False, timeout=8)
        self.dismiss(written)

    def _message(self, text: str, style: str) -> None:
        self.query_one("#export-message", Static).update(Text(text, style=style))
