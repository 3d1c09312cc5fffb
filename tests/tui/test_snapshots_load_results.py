"""SVG snapshots of the results table of an open-loop load (issue #11, section 3): its
load columns (req/s achieved/offered, lag p99, out tok and in tok got/asked, max infl)
at 120x36 and 80x24, from a hand-built result (nothing measured, no clock in the
picture). Update with ``pytest tests/tui/test_snapshots_load_results.py
--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.record import LoadStamp
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.bench.workloads.summary import summarise_load
from ometer_tui.core.models import ApiFlavour, Endpoint, ServerInfo
from ometer_tui.tui.screens.results import ResultsScreen
from tests.tui.test_snapshots import SnapCompare, SnapHost, info, loaded, record

LOAD = LoadSpec(
    arrival=ArrivalSpec(20.0, ArrivalKind.POISSON),
    max_concurrency=64,
    stop=StopConditions(max_requests=40),
    input_tokens=Fixed(256),
    output_tokens=Fixed(32),
)
#: name: (runs, send gap s, schedule lag s, TTFT s, token interval s, output tokens, done)
MODELS: dict[str, tuple[int, float, float, float, float, int, bool]] = {
    "demo-fast:1b": (40, 0.050, 0.0004, 0.031, 0.005, 32, True),
    "demo-think:7b": (12, 0.055, 0.0021, 0.052, 0.010, 29, False),
    "demo-slow:70b": (4, 0.080, 0.0090, 0.252, 0.060, 24, False),  # too few for lag p99
}


def load_run(
    name: str, i: int, gap: float, lag: float, ttft: float, interval: float, tokens: int
) -> RunRecord:
    rec = record(name, i, ttft=ttft, interval=interval, tokens=tokens)
    start = i * gap + lag * (1 + i % 3) / 2
    return replace(
        rec,
        started_at_s=start,
        finished_at_s=start + (rec.e2e_s or 0.0),
        prompt_tokens=255 + i % 3,
        load=LoadStamp(
            conversation=i - 1,
            intended_at_s=i * gap,
            schedule_lag_s=start - i * gap,
            input_tokens_asked=256,
            output_tokens_asked=32,
        ),
    )


def load_result() -> BenchmarkResult:
    endpoint = Endpoint(
        name="demo (simulated)", url="http://127.0.0.1:11434", api=ApiFlavour.OLLAMA, simulated=True
    )
    plan = BenchmarkPlan(
        endpoint=endpoint, models=tuple(info(n) for n in MODELS), passes=1, warmup=0, load=LOAD
    )
    result = BenchmarkResult(
        plan=plan,
        started_at=datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 30, 10, 0, 4, tzinfo=UTC),
        server=ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.12.0"),
    )
    for name, (runs, *shape, done) in MODELS.items():
        records = [load_run(name, i, *shape) for i in range(1, runs + 1)]
        mr = ModelResult(info=info(name), records=records, phase=ModelPhase.CANCELLED)
        if done:  # the runner's own summary: with the most requests in flight
            mr.phase = ModelPhase.DONE
            mr.summary = summarise(name, records, None)
            mr.summary.load = summarise_load(
                records, mode="open", offered_rate=20.0, max_in_flight=7,
                stop_reason="40 requests sent",
            )  # fmt: skip
        result.models[name] = mr
    result.cancelled = True
    return result


@pytest.mark.parametrize("size", [(120, 36), (160, 24)], ids=["120x36", "160x24"])
def test_results_of_a_load(snap_compare: SnapCompare, size: Any) -> None:
    """120x36: req/s 20.0/20 and lower, lag p99 (— for the model with 4 sends), out tok
    32/32, 29/32, 24/32 (p90, ±, in tok and max infl dropped first); the legend names
    the columns shown. 160x24: every column, in tok 256/256, max infl 7 for the finished
    model only (— for the cancelled ones: their load never ended)."""
    app = SnapHost(lambda app: ResultsScreen(loaded(app, load_result()), show_clock=False))
    assert snap_compare(app, terminal_size=size)
