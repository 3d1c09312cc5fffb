"""The charts: the results screen's panel (c, g), model detail histograms, sweep curves,
NO_COLOR, the update budget during a live demo run, and snapshots at 120x36 and 80x24."""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Sparkline, Static

from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.gaps import itl_histogram
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.series import CurvePoint, sweep_curve
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.session import BenchmarkSession, SessionChanged
from ometer_tui.tui.widgets import chart_panel
from ometer_tui.tui.widgets.chart import Chart, Figure, Line
from ometer_tui.tui.widgets.chart_detail import DetailCharts, run_label
from ometer_tui.tui.widgets.chart_figures import histogram_figure
from ometer_tui.tui.widgets.chart_panel import ChartPanel
from ometer_tui.tui.widgets.telemetry_panel import TelemetryPanel
from tests.history_samples import synthetic_result
from tests.tui.test_snapshots import SnapHost
from tests.tui.test_snapshots_telemetry import fixed_recording

SnapCompare = Callable[..., bool]


def chart_result() -> BenchmarkResult:
    """Two models of 40 runs each (seeded noise, every 7th run fails) and a fixed
    telemetry recording: nothing measured, nothing random between runs of the test."""
    result = synthetic_result(runs=40, models=("llama3:8b", "qwen3:4b"), error_every=7)
    result.telemetry = fixed_recording()
    rng = random.Random(5)  # each ok run's gaps around its mean, a stall now and then
    for mr in result.models.values():
        for r in mr.records:
            if r.ok and r.itl_mean_s is not None and r.output_tokens:
                mean_us = r.itl_mean_s * 1e6
                gaps = [
                    round(mean_us * rng.uniform(0.7, 1.3) * (6 if rng.random() < 0.004 else 1))
                    for _ in range(r.output_tokens - 1)
                ]
                r.itl_gaps_us, r.arrivals = array("i", gaps), len(gaps) + 1
    return result


def results_host(result: BenchmarkResult | None = None) -> SnapHost:
    shown = result or chart_result()
    return SnapHost(
        lambda app: ResultsScreen(BenchmarkSession.of_result(app, shown), show_clock=False)
    )


def figures(panel: ChartPanel) -> list[Figure]:
    return [c.figure for c in panel.query(Chart) if c.figure is not None and c.display]


def text_of(chart: Chart) -> str:
    rendered = chart.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def test_c_shows_the_charts_and_g_pages_through_them() -> None:
    app = results_host()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ChartPanel)
        telemetry = app.screen.query_one(TelemetryPanel)
        assert not panel.display and telemetry.display
        await pilot.press("c")
        await pilot.pause()
        assert panel.display
        assert not telemetry.display  # the charts' server page has its series
        titles = [f.title for f in figures(panel)]
        assert len(titles) == 4  # 2x2 at 120x36
        assert titles[0].startswith("output tok/s") and titles[2].startswith("TTFT ms")
        assert all(f.has_data for f in figures(panel))
        assert "errors per" in titles[3] and "10 in all" in titles[3]  # 5 per model
        assert panel.border_title is not None and "run" in str(panel.border_title)
        await pilot.press("g")
        await pilot.pause()
        server = [f.title for f in figures(panel)]
        assert server and all(t.startswith("server: ") for t in server)
        assert "server: requests running · 0 requests" in server
        assert "server" in str(panel.border_title)
        await pilot.press("G")
        await pilot.pause()
        assert [f.title for f in figures(panel)] == titles
        await pilot.press("t")  # asked for: the telemetry panel shows beside the charts
        assert telemetry.display
        await pilot.press("c")
        await pilot.pause()
        assert not panel.display


@pytest.mark.parametrize(("size", "charts"), [((80, 24), 1), ((60, 20), 1), ((100, 24), 2)])
async def test_smaller_screens_show_fewer_charts_at_once(
    size: tuple[int, int], charts: int
) -> None:
    app = results_host()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        panel = app.screen.query_one(ChartPanel)
        shown = [c for c in panel.query(Chart) if c.display]
        assert len(shown) == charts
        for chart in shown:  # drawn, with its axes, inside its box
            assert chart.size.height >= 5 and chart.size.width >= 20
            assert "┤" in text_of(chart)
        pages = len(panel.pages)
        for _ in range(pages):
            await pilot.press("g")
        await pilot.pause()
        assert panel.page == 0


async def test_no_color_keeps_the_lines_apart_by_their_marks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = results_host()
    assert app.no_color
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        ttft = next(c for c in app.screen.query(Chart) if c.figure and "TTFT" in c.figure.title)
        drawn = text_of(ttft)
        assert "•" in drawn  # p99 is drawn with dots, p50 in braille
        assert "•• p99" in drawn  # and the legend says which is which


async def test_colour_lines_are_braille_only() -> None:
    app = results_host()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        ttft = next(c for c in app.screen.query(Chart) if c.figure and "TTFT" in c.figure.title)
        assert "•" not in text_of(ttft)


async def test_a_sweep_curve_grows_point_by_point_with_its_slo_line() -> None:
    app = results_host()
    steps = [
        CurvePoint(1.0, 1.0, 0.10, 0.15, 1.0),
        CurvePoint(2.0, 2.0, 0.12, 0.20, 2.0),
        CurvePoint(4.0, 3.6, 0.30, 0.70, 2.5),
        CurvePoint(8.0, 3.8, 1.10, 2.40, 0.4),
    ]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ChartPanel)
        await pilot.press("c")
        await pilot.pause()
        for n in range(1, len(steps) + 1):
            panel.show_sweep({"m": sweep_curve(steps[:n], slo_ttft_s=0.5)})
            panel.update_now()
            while panel.pages[panel.page][0] != "sweep m":
                panel.turn_page(1)
            await pilot.pause()
            first, second = figures(panel)
            assert first.lines[0].xs == tuple(p.offered for p in steps[:n])
            assert f"last {steps[n - 1].offered:g} req/s" in first.title
            assert len(second.lines[1].xs) == n  # TTFT p99 against throughput
            assert second.refs and second.refs[0].y == pytest.approx(500.0)
        assert [label for label in (ln.label for ln in first.lines)] == ["throughput", "goodput"]


async def test_model_detail_histograms_and_per_run_sparklines() -> None:
    result = chart_result()
    app = SnapHost(
        lambda app: RunDetailScreen(BenchmarkSession.of_result(app, result), "llama3:8b")
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        charts = app.screen.query_one(DetailCharts)
        assert not charts.display
        await pilot.press("c")
        await pilot.pause()
        assert charts.display and not app.screen.query_one("#detail-bottom").display
        ttft = charts.query_one("#dc-ttft", Chart).figure
        assert ttft is not None and "n=35" in ttft.title  # 40 runs, 5 failed
        itl = charts.query_one("#dc-itl", Chart).figure
        records = result.models["llama3:8b"].records
        gaps = sum(len(r.itl_gaps_us or ()) for r in records if r.ok and not r.warmup)
        assert gaps > 35 * 50  # every gap of the 35 ok measured runs, not one per run
        assert itl is not None and itl.title.startswith(f"ITL, every gap (ms) · n={gaps} gaps")
        p99 = charts.query_one("#dc-p99", Sparkline)
        assert len(list(p99.data or [])) == 40  # one cell per measured run
        label = str(charts.query_one("#dc-p99-label", Static).render())
        assert label.startswith("ITL p99 per run ") and "ms" in label
        # the first sparkline: the highlighted run's own gaps, following the cursor
        spark = charts.query_one("#dc-run", Sparkline)
        for _ in range(3):
            rec = app.screen.runs.highlighted_record()
            assert rec is not None and rec.itl_gaps_us is not None
            assert list(spark.data or []) == [g / 1000 for g in rec.itl_gaps_us]
            kind = "warm-up" if rec.warmup else f"p{rec.pass_index}·{rec.prompt_index + 1}"
            label = str(charts.query_one("#dc-run-label", Static).render())
            assert label.startswith(f"gaps {kind} ({len(rec.itl_gaps_us)}) ")
            await pilot.press("down")
            await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert not charts.display and app.screen.query_one("#detail-bottom").display


def demo_plan(url: str) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=url, api=ApiFlavour.OLLAMA, simulated=True),
        models=(ModelInfo(name="demo-medium:8b"), ModelInfo(name="fault-rate-limited")),
        passes=9,
        warmup=0,
        concurrency=3,
        parallel_models=2,
        params=GenerationParams(max_tokens=96),
    )


class LiveHost(App[None]):
    def __init__(self, plan: BenchmarkPlan) -> None:
        super().__init__()
        self.plan = plan

    def on_mount(self) -> None:
        self.push_screen(ResultsScreen(BenchmarkSession.started(self, self.plan)))


async def wait_for(pilot: Pilot[Any], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 60.0
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_charts_follow_a_live_demo_run_within_the_update_budget(
    demo_server: DemoServerThread,
) -> None:
    interval = chart_panel.CHART_INTERVAL_S
    app = LiveHost(demo_plan(demo_server.url))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        panel = screen.query_one(ChartPanel)
        await pilot.press("c")
        changes = 0

        def count(_: object) -> None:
            nonlocal changes
            changes += 1

        screen.session.changed.subscribe(panel, count)
        started, before = time.monotonic(), panel.redraws
        seen_runs: set[int] = set()

        def growing() -> bool:
            tps = figures(panel)[0] if figures(panel) else None
            if tps is not None and tps.has_data:
                seen_runs.add(len(tps.lines[0].xs))
            return len(seen_runs) >= 2 and screen.session.running

        await wait_for(pilot, growing, "the tok/s chart to grow while the run goes")
        await wait_for(pilot, lambda: not screen.session.running, "the end")
        await pilot.pause()
        elapsed = time.monotonic() - started
        redraws = panel.redraws - before
        # never one redraw per change (5 a second): one per interval at most, and the end
        assert redraws <= elapsed / interval + 2
        assert redraws < changes
        errors = figures(panel)[3]
        assert "9 in all" in errors.title  # every fault-rate-limited run failed
        assert figures(panel)[0].has_data


def test_chart_panel_snapshot_120x36(snap_compare: SnapCompare) -> None:
    """The run page: tok/s, in flight, TTFT p50/p99 and errors, 2x2."""

    async def open_charts(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(results_host(), terminal_size=(120, 36), run_before=open_charts)


def test_chart_panel_snapshot_80x24_server_page(snap_compare: SnapCompare) -> None:
    """One chart at a time at 80x24; g to the server's requests running."""

    async def open_server(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        for _ in range(4):
            await pilot.press("g")
        await pilot.pause()

    assert snap_compare(results_host(), terminal_size=(80, 24), run_before=open_server)


def test_model_detail_histograms_snapshot(snap_compare: SnapCompare) -> None:
    result = chart_result()

    async def open_charts(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()

    app = SnapHost(
        lambda app: RunDetailScreen(BenchmarkSession.of_result(app, result), "llama3:8b")
    )
    assert snap_compare(app, terminal_size=(120, 36), run_before=open_charts)


def test_a_result_without_kept_gaps_shows_each_runs_mean_and_says_so() -> None:
    records = synthetic_result(runs=10, models=("m",)).models["m"].records
    figure = histogram_figure(itl_histogram(records), title="ITL")
    assert "n=10 ·" in figure.title and "one mean gap per run" in figure.title
    measured = records[1]
    assert run_label(measured, []).plain == (f"gaps p1·{measured.prompt_index + 1} – not kept")


async def test_a_title_wider_than_its_chart_is_cut_not_dropped() -> None:
    title = "inter-token gap, mean per run (ms) · n=35 · 1 above 27.5 ms"
    figure = Figure(title, (Line("runs", (1.0, 2.0, 3.0), (1.0, 3.0, 2.0)),))

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Chart(figure)

    async with One().run_test(size=(30, 12)) as pilot:
        await pilot.pause()
        chart = pilot.app.query_one(Chart)
        assert len(title) > chart.size.width
        first_line = text_of(chart).splitlines()[0].strip()
        assert first_line.endswith("…") and title.startswith(first_line[:-1])


async def test_a_new_result_starts_the_charts_afresh_the_same_one_grows_them() -> None:
    first = chart_result()  # 10 errors in all
    app = results_host(first)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        panel = screen.query_one(ChartPanel)
        assert "10 in all" in figures(panel)[3].title
        # the engine's final result: the same records, in the same order, one more
        final = chart_result()
        for name, mr in final.models.items():
            mr.records[:] = [*first.models[name].records, mr.records[3]]
        screen.session.fold = ResultFold.of_result(final)
        screen.session.changed.publish(SessionChanged(finished=True))
        await pilot.pause()
        assert "10 in all" in figures(panel)[3].title and panel.builder.runs == 2 * 40 + 2
        # another result (a re-run): not added to the first
        other = synthetic_result(runs=10, models=("llama3:8b",), error_every=2)
        screen.session.fold = ResultFold.of_result(other)
        screen.session.changed.publish(SessionChanged(restarted=True))
        await pilot.pause()
        assert "5 in all" in figures(panel)[3].title and panel.builder.runs == 10
