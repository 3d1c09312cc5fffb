"""A saved baseline for the fixed results of the snapshots: trends to show.

``trend_result()`` is the snapshots' fixed result (optionally only some of its models);
``trend_result(baseline=True)`` the same plan a day earlier, when demo-fast:1b was slower
to its first token (40 ms against 31 ms now: better beyond noise) and the others as they
are now (within noise)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.history import HistoryStore
from tests.tui.test_snapshots import fixed_result, record

#: the three chat models of the fixed result (no embedding, no failing model)
CHAT = ("demo-fast:1b", "demo-think:7b", "demo-slow:70b")


def trend_result(
    names: tuple[str, ...] | None = None, *, baseline: bool = False
) -> BenchmarkResult:
    result = fixed_result()
    if names is not None:
        result.plan = replace(result.plan, models=tuple(m for m in result.plan.models
                                                        if m.name in names))  # fmt: skip
        result.models = {k: v for k, v in result.models.items() if k in names}
    if baseline:
        result.started_at -= timedelta(days=1)
        if result.finished_at is not None:
            result.finished_at -= timedelta(days=1)
        name = "demo-fast:1b"
        records = [record(name, i, warmup=i == 0, ttft=0.040, interval=0.005, tokens=64)
                   for i in range(6)]  # fmt: skip
        result.models[name].records = records
        result.models[name].summary = summarise(name, records, None)
    return result


def seeded_history(
    folder: Path, names: tuple[str, ...] | None = None, *, label: str | None = "before upgrade"
) -> Path:
    """A history file in ``folder`` holding the baseline as #1."""
    path = folder / "history.sqlite3"
    with HistoryStore(path) as store:
        store.add_result(trend_result(names, baseline=True), label=label)
    return path
