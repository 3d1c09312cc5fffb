"""Reachability checks for the endpoints screen, off the UI's import path.

The clients of ``ometer_tui.core.api`` (httpx, aiohttp: ~0.2-0.4 s to import; the package
itself is light and loads them on first use) are imported in a thread so the UI keeps
drawing meanwhile. Always through ``import_module``: while another probe's thread is
still importing them, ``sys.modules`` already holds the half-initialised module, and
only the import lock waits for it to finish.
"""

from __future__ import annotations

import asyncio
import importlib

from textual.message import Message

from ometer_tui.core.models import Endpoint, ServerInfo


class Probed(Message):
    """A reachability check finished (``info`` or ``error`` is set); ``generation``
    tells a current check from one a re-check made stale."""

    def __init__(
        self, name: str, generation: int, info: ServerInfo | None, error: str | None
    ) -> None:
        super().__init__()
        self.name = name
        self.generation = generation
        self.info = info
        self.error = error


async def probe_endpoint(endpoint: Endpoint) -> tuple[ServerInfo | None, str | None]:
    """``(info, None)`` when ``endpoint`` answers, else ``(None, why)`` (a config error or
    a bug is reported the same way: shown on the row, never raised)."""
    await asyncio.to_thread(importlib.import_module, "ometer_tui.core.api.clients")
    api = importlib.import_module("ometer_tui.core.api")  # light; probe is loaded now
    try:
        return await api.probe(endpoint), None
    except api.ClientError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, str(exc) or type(exc).__name__
