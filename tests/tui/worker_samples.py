"""A fake engine that reports workers' load on demand, for the workers strip's tests.

:class:`FeedRunner` emits what the test gives it (``emit``, from any thread, as the
engine's ``on_event`` would) and runs until cancelled; the session's clock is a
:class:`FakeClock` the test moves, so staleness never depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkStarted,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
    WorkerLoad,
)
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FeedRunner:
    """Starts the plan's models, replays ``runs`` (a result's records), then waits."""

    def __init__(self, plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None],
                 runs: BenchmarkResult | None = None) -> None:  # fmt: skip
        self.plan = plan
        self.on_event = on_event
        self.runs = runs
        self.stop = threading.Event()
        self.started = threading.Event()

    def emit(self, event: BenchmarkEvent) -> None:
        self.on_event(event)

    async def run(self) -> BenchmarkResult:
        plan = self.plan
        total = plan.runs_per_model * len(plan.models) + plan.warmup * len(plan.models)
        self.on_event(BenchmarkStarted(models=plan.models, total_runs=total,
                                       warmup_requests=plan.warmup * len(plan.models)))  # fmt: skip
        for model in plan.models:
            self.on_event(ModelPhaseChanged(model.name, ModelPhase.RUNNING))
        if self.runs is not None:
            for name, mr in self.runs.models.items():
                measured = [r for r in mr.records if not r.warmup]
                done = 0
                for rec in mr.records:
                    done += not rec.warmup
                    self.on_event(RunFinished(rec, done, len(measured)))
                del name
        self.started.set()
        while not self.stop.is_set():  # noqa: ASYNC110 - set from another thread
            await asyncio.sleep(0.01)
        result = empty_result(plan, datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
        result.cancelled = True
        return result

    def cancel(self) -> None:
        self.stop.set()


def factory_into(runners: list[FeedRunner], runs: BenchmarkResult | None = None) -> Any:
    """A ``runner_factory`` whose runners are appended to ``runners``."""

    def make(plan: BenchmarkPlan, on_event: Any, log: bool) -> FeedRunner:
        runners.append(FeedRunner(plan, on_event, runs))
        return runners[-1]

    return make


def load(worker: int, *, workers: int = 2, lag: float = 0.8, in_flight: int = 12,
         chunks: float = 6200.0, cpu: float = 88.0, node: str = "bench-1",
         rss: int | None = 96_000_000) -> WorkerLoad:  # fmt: skip
    return WorkerLoad(worker=worker, workers=workers, node=node, pid=4242 + worker,
                      interval_s=1.0, chunks_per_s=chunks, cpu_percent=cpu, lag_p99_ms=lag,
                      in_flight=in_flight, rss_bytes=rss)  # fmt: skip
