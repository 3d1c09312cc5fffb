"""The requests and responses of the current benchmark, errors in red.

The engine masks secrets before it emits an exchange; this screen masks headers and
bodies again (defence in depth) before anything reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.models import Endpoint
from ometer_tui.core.secrets import Secret, redact_headers, redact_text, resolve

if TYPE_CHECKING:
    from ometer_tui.tui.screens.results import ResultsScreen

#: Characters of a body shown per exchange.
BODY_CHARS = 1200


def endpoint_secrets(endpoint: Endpoint) -> list[Secret]:
    """The endpoint's secrets, to redact any echo of them; unresolvable ones are skipped."""
    out: list[Secret] = []
    for ref in (endpoint.token, endpoint.api_key):
        if ref is None or not ref.is_set:
            continue
        try:
            secret = resolve(ref)
        except Exception:
            continue
        if secret:
            out.append(secret)
    return out


def _clip(text: str, limit: int = BODY_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more chars)"


def render_exchange(index: int, ex: ExchangeLogged, secrets: Sequence[Secret]) -> Text:
    """One exchange as plain ``Text`` (bodies are never parsed as markup)."""
    failed = ex.error is not None or (ex.status is not None and ex.status >= 400)
    text = Text()
    text.append(f"#{index} ", style="dim")
    text.append(f"→ {ex.method} ", style="bold")
    text.append(redact_text(ex.url, secrets))
    if ex.model:
        text.append(f"  [{ex.model}]", style="cyan")
    text.append("\n")
    for name, value in redact_headers(ex.request_headers).items():
        text.append(f"    {name}: ", style="dim")
        text.append(f"{redact_text(value, secrets)}\n", style="dim")
    if ex.request_body:
        text.append("    " + _clip(redact_text(ex.request_body, secrets)) + "\n")
    status = str(ex.status) if ex.status is not None else "no response"
    elapsed = f" in {ex.elapsed_s * 1000:.0f} ms" if ex.elapsed_s is not None else ""
    text.append(f"← {status}{elapsed}\n", style="bold red" if failed else "bold green")
    for name, value in redact_headers(ex.response_headers).items():
        text.append(f"    {name}: ", style="dim")
        text.append(f"{redact_text(value, secrets)}\n", style="dim")
    if ex.response_excerpt:
        style = "red" if failed else ""
        text.append("    " + _clip(redact_text(ex.response_excerpt, secrets)) + "\n", style=style)
    if ex.error:
        text.append(f"    error: {redact_text(ex.error, secrets)}\n", style="bold red")
    return text


class DebugLogScreen(Screen[None]):
    """Every exchange of the results screen's benchmark (the last 500), live."""

    HELP_TITLE = "Debug log"

    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="debug_log.back",
                tooltip="Back to the results"),
        Binding("x", "toggle_errors", "Errors only", id="debug_log.errors",
                tooltip="Show only failed exchanges, or all"),
    ]

    def __init__(self, source: ResultsScreen) -> None:
        super().__init__()
        self._source = source
        self._seen = 0
        self._errors_only = False
        self._secrets = endpoint_secrets(source.plan.endpoint)

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="debug-title")
        yield RichLog(id="debug-log", wrap=True, markup=False, highlight=False, max_lines=20000)
        yield Footer(compact=True)

    def _title(self) -> Text:
        src = self._source
        text = Text()
        text.append("Debug log ", style="bold")
        text.append(f"{src.plan.endpoint.display_url} · ", style="dim")
        kept = len(src.exchanges)
        text.append(f"{src.exchange_count} exchanges")
        if kept < src.exchange_count:
            text.append(f" (last {kept} kept)", style="dim")
        if self._errors_only:
            text.append(" · errors only", style="bold red")
        text.append(" · secrets masked", style="dim")
        return text

    def on_mount(self) -> None:
        self._write_all()
        self.set_interval(0.5, self._poll)

    @staticmethod
    def _is_error(ex: ExchangeLogged) -> bool:
        return ex.error is not None or (ex.status is not None and ex.status >= 400)

    def _write(self, items: Iterable[tuple[int, ExchangeLogged]]) -> None:
        log = self.query_one("#debug-log", RichLog)
        for index, ex in items:
            if self._errors_only and not self._is_error(ex):
                continue
            log.write(render_exchange(index, ex, self._secrets))

    def _numbered(self) -> list[tuple[int, ExchangeLogged]]:
        src = self._source
        first = src.exchange_count - len(src.exchanges) + 1
        return list(enumerate(src.exchanges, start=first))

    def _write_all(self) -> None:
        log = self.query_one("#debug-log", RichLog)
        log.clear()
        items = self._numbered()
        if not items:
            log.write(Text("No requests yet.", style="dim"))
        self._write(items)
        self._seen = self._source.exchange_count
        self.query_one("#debug-title", Static).update(self._title())

    def _poll(self) -> None:
        src = self._source
        if src.exchange_count == self._seen:
            return
        if src.exchange_count < self._seen:  # re-run: start over
            self._write_all()
            return
        new = min(src.exchange_count - self._seen, len(src.exchanges))
        if self._seen == 0:
            self.query_one("#debug-log", RichLog).clear()
        self._write(self._numbered()[-new:])
        self._seen = src.exchange_count
        self.query_one("#debug-title", Static).update(self._title())

    def action_toggle_errors(self) -> None:
        self._errors_only = not self._errors_only
        self._write_all()
