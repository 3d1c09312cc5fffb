"""App-wide messages of the TUI (past-tense names: they report what happened)."""

from __future__ import annotations

from textual.message import Message

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.result import BenchmarkResult


class BenchmarkEventsArrived(Message):
    """A batch of engine events, coalesced (a few batches per second, never per token)."""

    def __init__(self, events: tuple[BenchmarkEvent, ...]) -> None:
        super().__init__()
        self.events = events


class BenchmarkCompleted(Message):
    """The engine returned (finished or cancelled) or failed before it could run.

    Posted from the benchmark's thread after its last event was queued, so a handler that
    drains the queue first sees every event before the end.
    """

    def __init__(self, result: BenchmarkResult | None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error
