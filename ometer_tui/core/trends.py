"""Trends: each row of a result against the latest comparable result in the history.

The rule is the history's (:meth:`HistoryStore.latest_comparable`: same endpoint, model,
workload and load, started before this result) and the verdict the comparison's
(:func:`compare.compare_pair`: beyond noise or not). Headless ``run`` prints one line per
model; the TUI marks the results table and names the baseline on the detail screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.compare import (
    MetricComparison,
    PairComparison,
    compare_pair,
    row_document,
    trend_mark,
)
from ometer_tui.core.history import HistoryEntry, HistoryError, HistoryStore

__all__ = ["Trend", "find_trends"]


@dataclass(frozen=True, slots=True)
class Trend:
    """One row against its baseline: ``pair.a`` is the stored result, ``pair.b`` this
    one."""

    baseline: HistoryEntry
    pair: PairComparison

    def metric(self, key: str) -> MetricComparison:
        return self.pair.metric(key)

    def mark(self, key: str, *, compact: bool = False) -> str:
        """``▲ 12%``, ``▼ 5%``, ``≈`` or ``""`` (too few runs) for metric ``key``."""
        return trend_mark(self.metric(key), compact=compact)

    @property
    def baseline_name(self) -> str:
        """``#12 (2026-11-30 05:21, "before upgrade")``: the result compared against."""
        entry = self.baseline
        bits = [(entry.started_at or entry.saved_at).replace("T", " ")[:16]]
        if entry.label:
            bits.append(f'"{entry.label}"')
        return f"#{entry.id} ({', '.join(bits)})"


def find_trends(path: Path, result: BenchmarkResult) -> dict[str, Trend]:
    """Per row of ``result`` (its ``models`` keys) that measured a run and has a
    comparable result in the history at ``path``: the trend against it.

    Blocking (SQLite): call it in a thread. Never creates the file, and never raises for
    a history problem (a damaged, locked or newer file gives no trends)."""
    if not Path(path).exists():
        return {}
    out: dict[str, Trend] = {}
    try:
        with HistoryStore(path) as store:
            for key, mr in result.models.items():
                if not any(not r.warmup for r in mr.records):
                    continue
                doc = row_document(result, key)
                name = mr.info.name
                found = store.latest_comparable(doc, name)
                if found is None:
                    continue
                entry, previous = found
                pair = compare_pair(
                    previous, name, doc, name,
                    source_a=f"history #{entry.id}", source_b="this result",
                )  # fmt: skip
                out[key] = Trend(entry, pair)
    except HistoryError:
        return {}
    return out
