"""The requests and responses of the current benchmark, errors in red.

The engine masks secrets before it emits an exchange; this screen masks headers and
bodies again (defence in depth) before anything reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.models import Endpoint
from ometer_tui.core.secrets import Secret, redact_headers, redact_text, resolve
from ometer_tui.tui.session import BenchmarkSession, SessionChanged

#: Characters of a body shown per exchange.
BODY_CHARS = 1200
#: Bodies and headers are indented this much under their exchange's first line.
BODY_INDENT = 4


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


def is_error(ex: ExchangeLogged) -> bool:
    return ex.error is not None or (ex.status is not None and ex.status >= 400)


def _body(text: str, style: str = "") -> Padding:
    """A body indented under its exchange, each NDJSON line on its own line, and long
    lines wrapped at the same indent."""
    lines = [line for line in text.splitlines() if line.strip()] or [text]
    return Padding(Text("\n".join(lines), style=style), (0, 0, 0, BODY_INDENT))


def render_exchange(index: int, ex: ExchangeLogged, secrets: Sequence[Secret]) -> Group:
    """One exchange (bodies are never parsed as markup); secrets masked again."""
    failed = is_error(ex)
    head = Text()
    head.append(f"#{index} ", style="dim")
    head.append(f"→ {ex.method} ", style="bold")
    head.append(redact_text(ex.url, secrets))
    if ex.model:
        head.append(f"  [{ex.model}]", style="cyan")
    parts: list[RenderableType] = [head]

    def headers(items: dict[str, str]) -> None:
        for name, value in redact_headers(items).items():
            parts.append(_body(f"{name}: {redact_text(value, secrets)}", "dim"))

    headers(ex.request_headers)
    if ex.request_body:
        parts.append(_body(_clip(redact_text(ex.request_body, secrets))))
    status = str(ex.status) if ex.status is not None else "no response"
    elapsed = f" in {ex.elapsed_s * 1000:.0f} ms" if ex.elapsed_s is not None else ""
    parts.append(Text(f"← {status}{elapsed}", style="bold red" if failed else "bold green"))
    headers(ex.response_headers)
    if ex.response_excerpt:
        excerpt = _clip(redact_text(ex.response_excerpt, secrets))
        parts.append(_body(excerpt, "red" if failed else ""))
    if ex.error:
        parts.append(_body(f"error: {redact_text(ex.error, secrets)}", "bold red"))
    return Group(*parts)


class DebugLogScreen(Screen[None]):
    """Every exchange of the session's benchmark (the last 500), live."""

    HELP_TITLE = "Debug log"

    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="debug_log.back",
                tooltip="Back to the results"),
        Binding("x", "toggle_errors", "Errors only", id="debug_log.errors",
                tooltip="Show only failed exchanges, or all"),
    ]  # fmt: skip

    def __init__(self, session: BenchmarkSession) -> None:
        super().__init__()
        self.session = session
        self.errors_only = False
        self._empty = True
        self._secrets = [s for ep in session.plan.endpoints for s in endpoint_secrets(ep)]

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="debug-title")
        # min_width: wrap at the width there is (the default renders 78 wide and crops)
        yield RichLog(
            id="debug-log", wrap=True, markup=False, highlight=False, max_lines=20000, min_width=20
        )
        yield Footer(compact=True)

    def _title(self) -> Text:
        fold = self.session.fold
        text = Text()
        text.append("Debug log ", style="bold")
        text.append(f"{self.session.plan.endpoint.display_url} · ", style="dim")
        kept = len(fold.exchanges)
        if self.errors_only:
            errors = sum(1 for ex in fold.exchanges if is_error(ex))
            text.append(f"{errors} failed of {kept} exchanges", style="bold red")
        else:
            text.append(f"{fold.exchange_count} exchanges")
        if kept < fold.exchange_count:
            text.append(f" (last {kept} kept)", style="dim")
        text.append(" · secrets masked", style="dim")
        return text

    def on_mount(self) -> None:
        self._write_all()
        self.session.changed.subscribe(self, self._session_changed)

    def _session_changed(self, change: SessionChanged) -> None:
        if change.restarted:
            self._write_all()
        elif change.exchanges:
            self._write_new(change.exchanges)

    def _numbered(self) -> list[tuple[int, ExchangeLogged]]:
        fold = self.session.fold
        first = fold.exchange_count - len(fold.exchanges) + 1
        return list(enumerate(fold.exchanges, start=first))

    def _write(self, items: Iterable[tuple[int, ExchangeLogged]]) -> int:
        log = self.query_one("#debug-log", RichLog)
        written = 0
        for index, ex in items:
            if self.errors_only and not is_error(ex):
                continue
            log.write(render_exchange(index, ex, self._secrets), expand=True)
            written += 1
        return written

    def _write_all(self) -> None:
        log = self.query_one("#debug-log", RichLog)
        log.clear()
        self._empty = self._write(self._numbered()) == 0
        if self._empty:
            log.write(Text("No failed requests." if self.errors_only else "No requests yet.",
                           style="dim"))  # fmt: skip
        self.query_one("#debug-title", Static).update(self._title())

    def _write_new(self, count: int) -> None:
        new = self._numbered()[-count:] if count else []
        if self._empty and any(not self.errors_only or is_error(ex) for _, ex in new):
            self.query_one("#debug-log", RichLog).clear()
        if self._write(new):
            self._empty = False
        self.query_one("#debug-title", Static).update(self._title())

    def action_toggle_errors(self) -> None:
        self.errors_only = not self.errors_only
        self._write_all()
