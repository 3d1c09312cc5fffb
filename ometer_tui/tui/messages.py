"""App-wide messages of the TUI (past-tense names: they report what happened).

Messages that belong to one widget are nested on it (``ResultsTable.SortChanged``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # not imported with the app: its first screen needs neither
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.result import BenchmarkResult
    from ometer_tui.core.bench.sweep_form import StepsRequest


class BenchmarkRequested(Message):
    """A screen built a valid plan and the user asked to run it (the app starts it);
    ``steps``: run it as a sweep, with SLOs or repeats (``None``: a plain run)."""

    def __init__(self, plan: BenchmarkPlan, steps: StepsRequest | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.steps = steps


class ResultOpened(Message):
    """The user opened a saved result (the app shows it as a loaded session)."""

    def __init__(self, result: BenchmarkResult, history_id: int) -> None:
        super().__init__()
        self.result = result
        self.history_id = history_id
