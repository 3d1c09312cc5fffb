"""Engines for ``ProcessRunner(engine=...)`` in tests: built in the engine's process, so
they live in an importable module (pickled by reference)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from datetime import UTC, datetime

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult


class Unpicklable(Exception):
    """An engine failure that cannot cross the pipe as itself."""

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("not picklable")


class _Failing:
    def __init__(self, plan: BenchmarkPlan, how: str) -> None:
        self.plan = plan
        self.how = how
        self.result = BenchmarkResult(plan=plan, started_at=datetime.now(UTC))

    async def run(self) -> BenchmarkResult:
        if self.how == "exit":
            os._exit(3)
        raise Unpicklable("the engine broke (secret-free message)")

    def cancel(self) -> None:
        pass


def exiting_engine(
    plan: BenchmarkPlan, _on: Callable[[BenchmarkEvent], None], _log: bool
) -> _Failing:
    """Its process exits with code 3 when the run starts."""
    return _Failing(plan, "exit")


def unpicklable_engine(
    plan: BenchmarkPlan, _on: Callable[[BenchmarkEvent], None], _log: bool
) -> _Failing:
    """Its run raises an exception that does not survive pickling."""
    return _Failing(plan, "raise")


class Unreadable:
    """An engine factory that pickles here but cannot be read in the engine's process."""

    def __reduce__(self) -> str | tuple[object, ...]:
        return importlib.import_module, ("ometer_tui_no_such_module",)

    def __call__(
        self, plan: BenchmarkPlan, _on: Callable[[BenchmarkEvent], None], _log: bool
    ) -> _Failing:
        return _Failing(plan, "raise")
