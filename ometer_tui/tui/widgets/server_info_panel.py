"""The highlighted endpoint's server information, under the endpoints table.

State flows down: the screen calls :meth:`ServerInfoPanel.show_for` with the endpoint
it highlights (again whenever it likes: the same endpoint is not asked twice) and
:meth:`ServerInfoPanel.forget` on a re-check. The panel asks the server in a worker of
its own group (exclusive: moving on cancels the question about the previous endpoint),
keeps each answer, and shows what the server said (core:
:func:`ometer_tui.core.telemetry.server_info.fetch_server_details`). A failing source
reads ``unavailable: <reason>``; nothing here raises into the screen.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import Static

from ometer_tui.core.models import Endpoint
from ometer_tui.tui.formatting import fmt_bytes, fmt_context

if TYPE_CHECKING:
    from ometer_tui.core.telemetry.server_info import LoadedModel, ServerDetails

#: models listed one per line; the rest are counted
SHOWN_MODELS = 3
ASKING = Text("server info: asking…", style="dim italic")

Key = tuple[str, str, str, str]


def _key(endpoint: Endpoint) -> Key:
    return (endpoint.name, endpoint.url, str(endpoint.api), endpoint.metrics_url or "")


def fmt_uptime(seconds: float) -> str:
    """``"3 d 4 h"``, ``"2 h 05 min"``, ``"7 min"``, ``"40 s"``."""
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def _until(iso: str) -> str | None:
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone().strftime("%H:%M:%S")


def _model_line(model: LoadedModel) -> Text:
    line = Text("• ", style="dim")
    line.append(model.name, style="")
    parts = []
    if model.context_length is not None:
        parts.append(f"context {fmt_context(model.context_length)}")
    if model.size_bytes is not None:
        memory = fmt_bytes(model.size_bytes)
        if model.vram_bytes is not None:
            memory += f", {fmt_bytes(model.vram_bytes)} in VRAM"
        parts.append(memory)
    if model.expires_at and (until := _until(model.expires_at)):
        parts.append(f"loaded until {until}")
    if parts:
        line.append("  " + " · ".join(parts), style="dim")
    return line


def details_text(details: ServerDetails) -> Text:
    """What the server said: kind, version, uptime, health, slots, models; then what
    could not be read."""
    out = Text()
    if details.empty and details.unavailable:  # nothing came: why is all there is to say
        out.append("server info unavailable: ", style="yellow")
        out.append("; ".join(details.problems()))
        return out
    head = Text()
    head.append("server: ", style="bold")
    facts = [" ".join(x for x in (details.kind, details.version) if x)]
    if details.uptime_s is not None:
        facts.append(f"up {fmt_uptime(details.uptime_s)}")
    if details.healthy:
        facts.append("healthy")
    if details.slots is not None:
        facts.append(f"{details.slots} slots")
    if details.context_size is not None:
        facts.append(f"context {fmt_context(details.context_size)}")
    shown = [f for f in facts if f]
    if details.empty:
        shown = ["no information (it has none of the pages asked)"]
    elif not shown:
        shown = ["answered, but said nothing about itself"]
    head.append(" · ".join(shown))
    out.append_text(head)
    models = details.models
    if models:
        label = "loaded" if details.models_loaded else "served"
        out.append(f"\n{label}: ", "bold")
        out.append(f"{len(models)} model{'s' if len(models) != 1 else ''}")
        for model in models[:SHOWN_MODELS]:
            out.append("\n")
            out.append_text(_model_line(model))
        if len(models) > SHOWN_MODELS:
            out.append(f"\n+{len(models) - SHOWN_MODELS} more", style="dim")
    elif details.models_loaded:
        out.append("\nloaded: no model in memory", style="dim")
    for problem in details.problems():
        out.append("\nunavailable: ", style="yellow")
        out.append(problem)
    return out


class ServerInfoPanel(Static):
    """Kind, version, loaded models (memory, context), slots, uptime of one endpoint."""

    DEFAULT_CSS = """
    ServerInfoPanel {
        height: auto;
        max-height: 6;
        padding: 0 1;
    }
    """

    class Fetched(Message):
        """A server's details came (or the question failed: ``details`` is the reason)."""

        def __init__(self, key: Key, details: ServerDetails | str) -> None:
            super().__init__()
            self.key = key
            self.details = details

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._known: dict[Key, ServerDetails | str] = {}
        self._shown: Key | None = None
        self._asking: Key | None = None

    def show_for(self, endpoint: Endpoint | None, *, starting: bool = False) -> None:
        """Show ``endpoint``'s server information, asking the server when not known."""
        if endpoint is None or starting:
            self._shown = None
            self.update("")
            self.display = False
            return
        key = _key(endpoint)
        self.display = True
        self._shown = key
        known = self._known.get(key)
        if known is not None:
            self._render_details(known)
        elif self._asking != key:
            self.update(ASKING)
            self._asking = key
            self._ask(endpoint, key)

    def forget(self) -> None:
        """Drop every answer kept (a re-check asks again)."""
        self._known.clear()
        self._asking = None
        self.workers.cancel_group(self, "server-info")

    @work(group="server-info", exclusive=True, exit_on_error=False)
    async def _ask(self, endpoint: Endpoint, key: Key) -> None:
        # after the frame being drawn: on the first screen, the thread's import of httpx
        # would compete with drawing it (tests/unit/test_startup_imports.py)
        await self.wait_for_refresh()
        try:  # httpx is imported off the UI thread, as the reachability checks do
            module = await asyncio.to_thread(
                importlib.import_module, "ometer_tui.core.telemetry.server_info"
            )
            details: ServerDetails | str = await module.fetch_server_details(endpoint)
        except Exception as exc:  # never into the screen; no secret in a type name
            details = f"internal error ({type(exc).__name__})"
        self.post_message(self.Fetched(key, details))

    @on(Fetched)
    def _fetched(self, message: Fetched) -> None:
        message.stop()
        self._known[message.key] = message.details
        if self._asking == message.key:
            self._asking = None
        if self._shown == message.key:
            self._render_details(message.details)

    def _render_details(self, details: ServerDetails | str) -> None:
        if isinstance(details, str):
            text = Text("server info unavailable: ", style="yellow")
            text.append(details)
            self.update(text)
        else:
            self.update(details_text(details))
