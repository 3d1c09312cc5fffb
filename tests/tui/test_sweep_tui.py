"""Sweeps, SLOs and repeats in the dashboard (issue #12): the run panel's Steps section
parsed with the headless flags' rules, a live concurrency sweep against the demo
endpoint feeding the chart panel's sweep page and the step table point by point, the
header naming the step, and the whole step table once it is over."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.steps import LoadKind
from ometer_tui.core.bench.sweep_form import steps_from_texts
from ometer_tui.core.export import to_dict
from ometer_tui.core.export_read import result_from_dict
from ometer_tui.core.settings import Settings, load_settings, save_settings
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.messages import ResultOpened
from ometer_tui.tui.screens.model_picker import ModelPickerScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.widgets.chart_panel import ChartPanel
from ometer_tui.tui.widgets.results_header import PhraseLine
from ometer_tui.tui.widgets.steps_panel import StepsPanel
from tests.support.figures import same_figures
from tests.tui.picker_helpers import open_picker

SIZE = (120, 36)
AppFactory = Callable[..., OmeterApp]
Settle = Callable[[Pilot[None]], Awaitable[None]]


def with_slo(path: Path, slo: SloTargets) -> None:
    settings = Settings(endpoints=list(load_settings(path).endpoints), slo=slo)
    save_settings(settings, path)


def set_fields(screen: ModelPickerScreen, **values: str) -> None:
    for field_id, text in values.items():
        screen.query_one(f"#{field_id}", Input).value = text


def test_the_fields_parse_as_the_flags_do_and_name_the_field() -> None:
    steps, problems = steps_from_texts("concurrency=1,2", "ttft:500, tpot:50", "2", percentile=95)
    assert problems == []
    assert steps is not None
    assert steps.job.sweep is not None and steps.job.sweep.values == (1.0, 2.0)
    assert steps.job.sweep.kind is LoadKind.CONCURRENCY and steps.job.repeat == 2
    assert steps.slo.limits_ms == (("ttft", 500.0), ("tpot", 50.0))
    assert steps.slo.percentile == 95
    assert steps_from_texts("", "", "") == (None, [])  # a plain run, as before
    only_slo, _ = steps_from_texts("", "e2el:4000", "")
    assert only_slo is not None and only_slo.job.sweep is None  # one step with SLOs
    _, problems = steps_from_texts("rate=0", "latency:5 ttft:-5", "two")
    assert problems == [
        "sweep rate=0: each rate must be more than 0, got 0",
        "slo latency:5: unknown SLO 'latency' (known: ttft, ttft_visible, tpot, itl, e2el)",
        "slo ttft:-5: must be more than 0 ms, got -5",
        "repeat: 'two' is not a whole number",
    ]


async def test_bad_sweep_slo_or_repeat_text_is_named_and_nothing_starts(
    make_app: AppFactory,
    demo_config: Path,
    settle: Settle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(OmeterApp, "start_benchmark", lambda self, *a, **k: started.append(a))
    with_slo(demo_config, SloTargets((("ttft", 250.0),)))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        # the SLO field starts from the settings' [slo]
        assert screen.query_one("#slo", Input).value == "ttft:250"
        await pilot.press("space")
        set_fields(screen, sweep="concurrency=1,x", slo="ttft:0", repeat="0")
        await pilot.press("b")
        await settle(pilot)
        shown = str(screen.query_one("#plan-errors", Static).render())
        assert "sweep concurrency=1,x: 'x' is not a whole number" in shown
        assert "slo ttft:0: must be more than 0 ms, got 0" in shown
        assert "repeat: must be from 1 to 100, got 0" in shown
        assert isinstance(app.screen, ModelPickerScreen)
    assert started == []


async def test_a_demo_sweep_grows_the_chart_and_ends_with_the_step_table(
    make_app: AppFactory,
    demo_config: Path,
    settle: Settle,
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("slash", *"=demo-fast:1b", "down", "space")
        set_fields(screen, sweep="concurrency=1,2,4", slo="ttft:2000", requests="6",
                   max_tokens="8")  # fmt: skip
        await pilot.press("b")
        await pilot.pause()
        results = app.screen
        assert isinstance(results, ResultsScreen), screen.query_one("#plan-errors").render()
        assert results.session.steps is not None
        session = results.session
        panel = results.query_one(ChartPanel)
        header = results.query_one("#results-status", PhraseLine)
        steps = results.query_one(StepsPanel)
        curve_sizes: set[int] = set()
        step_texts: set[str] = set()
        live_rows: set[int] = set()  # the step table while the sweep runs
        for _ in range(600):
            if not session.running:
                break
            if session.step_now is not None:
                step_texts.add(header.plain)
            curve_sizes.update(len(c.points) for c in panel.sweeps.values())
            if steps.mode == "live":
                live_rows.add(len(steps.rows))
            await pilot.pause(0.05)
        await settle(pilot)
        assert not session.running and session.error is None
        # point by point: the chart's curve had 1, then 2, then 3 points
        assert len(session.step_points) == 3
        assert curve_sizes & {1, 2}, curve_sizes  # seen before the last step finished
        curve = next(iter(panel.sweeps.values()))
        assert [p.offered for p in curve.points] == [1.0, 2.0, 4.0]
        assert curve.slo_ttft_s == 2.0
        assert any("step 2/3 · concurrency 2" in t for t in step_texts), step_texts
        assert live_rows & {1, 2}, live_rows  # a row per finished step, before the end
        assert steps.has_class("-on") and steps.display
        rows = steps.rows
        assert [r[1] for r in rows] == ["concurrency 1", "concurrency 2", "concurrency 4"]
        assert all(r[-1] == "meets" for r in rows), rows  # (one model: in the title)
        title = str(steps.query_one("#steps-title", Static).render())
        assert "Sweep of demo-fast:1b: concurrency=1,2,4" in title
        outcome = str(steps.query_one("#steps-outcome", Static).render())
        assert "knee at" in outcome and "SLOs: ttft <= 2000 ms" in outcome
        # the same sweep saved (its JSON export, as the history keeps it) and opened
        # again: the same step table and curve
        saved = result_from_dict(json.loads(json.dumps(to_dict(session.result))))
        app.post_message(ResultOpened(saved, 1))
        await settle(pilot)
        reopened = app.screen
        assert isinstance(reopened, ResultsScreen) and reopened is not results
        assert same_figures(rows, reopened.query_one(StepsPanel).rows)  # (the export rounds)
        again = next(iter(reopened.query_one(ChartPanel).sweeps.values()))
        assert [p.offered for p in again.points] == [1.0, 2.0, 4.0]
