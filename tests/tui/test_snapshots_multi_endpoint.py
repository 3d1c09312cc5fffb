"""SVG snapshots of several endpoints in one benchmark: the endpoints screen with two
marked, the picker offering the union of their models, and results with an endpoint
column (120x36 and 80x24). Update with
``pytest tests/tui/test_snapshots_multi_endpoint.py --snapshot-update`` and look at the
SVGs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_snapshots import (
    SIZE,
    SMALL,
    SnapCompare,
    SnapHost,
    fake_detect,
    fake_open_client,
    info,
    loaded,
    offline,  # noqa: F401 - a fixture
    omapp,
    record,
    saved_config,
    then,
)

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult, row_key
from ometer_tui.core.models import ApiFlavour, Endpoint, ServerInfo
from ometer_tui.tui.screens.results import ResultsScreen


@pytest.fixture
def setup_offline(offline: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    import ometer_tui.core.discovery as discovery

    monkeypatch.setattr(discovery, "open_client", fake_open_client)
    monkeypatch.setattr(discovery, "detect_flavour", fake_detect)
    return offline


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_endpoints_with_two_marked(
    snap_compare: SnapCompare, setup_offline: Path, size: tuple[int, int]
) -> None:
    """Marks in the first column, the line under the table says what enter picks."""
    app = omapp(saved_config(setup_offline), demo=True)
    keys = then("space", "down", "space", "down")
    assert snap_compare(app, terminal_size=size, run_before=keys)


def test_picker_offers_the_union_marked_per_endpoint(
    snap_compare: SnapCompare, setup_offline: Path
) -> None:
    app = omapp(saved_config(setup_offline), demo=True)
    keys = then("space", "down", "space", "enter", "space")
    assert snap_compare(app, terminal_size=SIZE, run_before=keys)


def two_endpoint_result() -> BenchmarkResult:
    """The same Ollama server through its native API and its /v1 API, fixed figures."""
    native = Endpoint(name="ollama native", url="http://gpu-box.lan:11434",
                      api=ApiFlavour.OLLAMA)  # fmt: skip
    v1 = replace(native, name="ollama /v1", api=ApiFlavour.OPENAI)
    names = ("demo-fast:1b", "demo-think:7b")
    parts = [
        BenchmarkPlan(endpoint=ep, models=tuple(info(n) for n in names), passes=5, warmup=1)
        for ep in (native, v1)
    ]
    plan = combine_plans(parts)
    server = ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.12.0")
    result = BenchmarkResult(
        plan=plan, started_at=datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC), server=server,
        warmup_requests=4, servers={native.name: server, v1.name: None},
    )  # fmt: skip
    specs = {
        "demo-fast:1b": {"ttft": 0.031, "interval": 0.005, "tokens": 64},
        "demo-think:7b": {"ttft": 0.052, "interval": 0.010, "tokens": 40, "visible_delay": 0.16},
    }
    for ep, extra in ((native, 0.0), (v1, 0.004)):  # /v1: 4 ms more to the first token
        for name in names:
            spec = {**specs[name], "ttft": float(specs[name]["ttft"]) + extra}
            records = [record(name, 0, warmup=True, **spec)]  # type: ignore[arg-type]
            records += [record(name, i, **spec) for i in range(1, 6)]  # type: ignore[arg-type]
            mr = ModelResult(info=info(name), records=records, endpoint=ep.name)
            mr.summary = summarise(name, records, None)
            mr.phase = ModelPhase.DONE
            result.models[row_key(ep.name, name)] = mr
    return result


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x36", "80x24"])
def test_results_with_an_endpoint_column(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = SnapHost(lambda app: ResultsScreen(loaded(app, two_endpoint_result()), show_clock=False))
    assert snap_compare(app, terminal_size=size)
