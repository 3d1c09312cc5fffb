"""Server telemetry in the TUI: samples reach the session coalesced, the results screen's
telemetry panel shows them (against the demo's vLLM-style /metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.telemetry.live import snapshot
from ometer_tui.core.telemetry.recording import SourceKind, SourceState, TelemetryRecording
from ometer_tui.core.telemetry.sampler import TelemetrySampler
from ometer_tui.demo.server import DemoServerThread, run_in_thread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.bench_bridge import (
    BenchmarkBridge,
    TelemetryFactory,
    default_telemetry_factory,
)
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.telemetry_panel import TelemetryPanel, TelemetryRow


def recording(*values: float) -> TelemetryRecording:
    rec = TelemetryRecording(interval_s=1.0)
    rec.sources[SourceKind.PROMETHEUS] = SourceState(
        SourceKind.PROMETHEUS, "http://h/metrics", available=True
    )
    rec.sources[SourceKind.OLLAMA_PS] = SourceState(
        SourceKind.OLLAMA_PS, "http://h/api/ps", reason="404 Not Found"
    )
    series = rec.series_for(SourceKind.PROMETHEUS, "requests_running", "requests", "x")
    for i, v in enumerate(values):
        series.add(i * 1_000_000_000, v)
    return rec


def test_samples_between_two_drains_reach_the_ui_as_one_update_the_latest() -> None:
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="e", url="http://127.0.0.1:9", api=ApiFlavour.OPENAI),
        models=(ModelInfo(name="m"),),
    )
    bridge = BenchmarkBridge(plan)
    assert bridge.take_telemetry() is None
    for n in range(1, 6):  # five polls before the UI drains once
        bridge.on_telemetry(recording(*range(n)))
    taken = bridge.take_telemetry()
    assert taken is not None
    assert [s.current for s in taken.series] == [4.0]
    assert taken.series[0].history == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert bridge.take_telemetry() is None  # nothing new: no update
    bridge.on_telemetry(recording(7.0))
    again = bridge.take_telemetry()
    assert again is not None and again.series[0].current == 7.0


def test_a_snapshot_is_frozen_data_and_the_final_one_has_peaks_and_means() -> None:
    rec = recording(1.0, 5.0, 3.0)
    live = snapshot(rec)
    assert live.series[0].peak is None and not live.final
    rec.series_for(SourceKind.PROMETHEUS, "requests_running", "requests", "x").add(9, 8.0)
    assert live.series[0].current == 3.0  # not a view of the recording
    final = snapshot(rec, final=True)
    (s,) = final.series
    assert (s.peak, s.mean, s.current) == (8.0, 4.25, 8.0)
    assert [(v.source, v.state) for v in final.sources] == [
        ("prometheus", "ok"),
        ("ollama_ps", "unavailable: 404 Not Found"),
    ]
    assert final.any_available


# -- the panel on the results screen ----------------------------------------------------


def telemetry_at(interval_s: float) -> TelemetryFactory:
    def factory(
        plan: BenchmarkPlan, on_sample: Callable[[TelemetryRecording], None]
    ) -> TelemetrySampler:
        return TelemetrySampler(plan.endpoint, interval_s=interval_s, on_sample=on_sample)

    return factory


class Host(App[None]):
    """A results screen on a session: ``plan`` run with telemetry, or ``session`` given."""

    def __init__(
        self,
        plan: BenchmarkPlan | None = None,
        session: Callable[[App[None]], BenchmarkSession] | None = None,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.make_session = session

    def on_mount(self) -> None:
        if self.make_session is not None:
            session = self.make_session(self)
        else:
            assert self.plan is not None
            session = BenchmarkSession.started(self, self.plan, telemetry=telemetry_at(0.25))
        self.push_screen(ResultsScreen(session))


async def wait_for(pilot: Pilot[None], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def rows(panel: TelemetryPanel) -> dict[str, tuple[str, str]]:
    """series name -> (value shown, peak and mean shown)."""
    out = {}
    for row in panel.query(TelemetryRow):
        name = str(row.query_one(".tp-name", Static).render())
        value = str(row.query_one(".tp-value", Static).render())
        stats = str(row.query_one(".tp-stats", Static).render())
        out[name] = (value, stats)
    return out


async def test_the_panel_shows_the_demo_servers_requests_running_live_then_peaks() -> None:
    with run_in_thread() as demo:
        endpoint = Endpoint(name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True)
        plan = BenchmarkPlan(
            endpoint=endpoint,
            models=(ModelInfo(name="demo-medium:8b"),),
            passes=6,
            warmup=0,
            concurrency=3,
            params=GenerationParams(max_tokens=40),
        )
        app = Host(plan)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), "the screen")
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            panel = screen.query_one(TelemetryPanel)
            seen: list[str] = []

            def running_now() -> bool:
                value = rows(panel).get("requests running", ("", ""))[0]
                seen.append(value)
                return screen.session.running and value not in ("", "0 requests")

            await wait_for(pilot, running_now, "requests running > 0 while it runs")
            assert panel.display  # shown by default: sources answered, 120x36
            sources = str(panel.query_one("#tp-sources", Static).render())
            assert "prometheus ok" in sources and "ollama_ps ok" in sources
            assert "llamacpp_slots unavailable: 404 Not Found" in sources
            await wait_for(pilot, lambda: not screen.session.running, "the end")
            await pilot.pause()
            result = screen.session.result
            assert result.telemetry is not None  # the recording is on the result: exported
            assert panel.has_class("-final")
            stats = rows(panel)["requests running"][1]
            series = result.telemetry.series[(SourceKind.PROMETHEUS, "requests_running", "")]
            peak = max(v for _, v in series.points if series.points)
            assert stats.startswith(f"peak {int(peak)} mean ") and peak >= 2
            await pilot.press("t")
            assert not panel.display
            await pilot.press("t")
            assert panel.display


def fake_result_with_telemetry(available: bool) -> BenchmarkResult:
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="e", url="http://127.0.0.1:9", api=ApiFlavour.OPENAI),
        models=(ModelInfo(name="m"),),
    )
    started = datetime(2026, 1, 1, tzinfo=UTC)
    result = BenchmarkResult(plan=plan, started_at=started, finished_at=started)
    rec = recording(1.0, 3.0, 2.0)
    if not available:
        rec.sources[SourceKind.PROMETHEUS].available = False
        rec.sources[SourceKind.PROMETHEUS].reason = "cannot connect"
    result.telemetry = rec
    return result


@pytest.mark.parametrize(
    ("size", "available", "shown"),
    [((120, 36), True, True), ((80, 24), True, True), ((60, 20), True, False),
     ((120, 36), False, False)],
)  # fmt: skip
async def test_hidden_by_default_when_small_or_nothing_answered_and_t_overrides(
    size: tuple[int, int], available: bool, shown: bool
) -> None:
    result = fake_result_with_telemetry(available)
    app = Host(session=lambda owner: BenchmarkSession.of_result(owner, result))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(TelemetryPanel)
        assert panel.display is shown
        assert rows(panel)["requests running"] == ("2 requests", "peak 3 mean 2")
        await pilot.press("t")
        assert panel.display is not shown
        await pilot.press("t")
        assert panel.display is shown


async def test_the_app_runs_its_benchmarks_with_telemetry_on(
    make_app: Callable[..., App[None]], config_path: Path, demo_server: DemoServerThread
) -> None:
    app = make_app(config_path)
    assert isinstance(app, OmeterApp)
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=demo_server.url, api=ApiFlavour.OPENAI),
        models=(ModelInfo(name="demo-fast:1b"),),
        passes=1,
        warmup=0,
        params=GenerationParams(max_tokens=8),
    )
    async with app.run_test(size=(120, 36)) as pilot:
        session = app.start_benchmark(plan)
        assert session.telemetry_factory is default_telemetry_factory
        await wait_for(pilot, lambda: not session.running, "the end")
        assert session.result.telemetry is not None  # attached: exports carry it
        assert session.telemetry is not None and session.telemetry.final
