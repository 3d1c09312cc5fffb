"""Server telemetry in the TUI: samples reach the session coalesced, the results screen's
telemetry panel shows them (against the demo's vLLM-style /metrics)."""

from __future__ import annotations

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo
from ometer_tui.core.telemetry.live import snapshot
from ometer_tui.core.telemetry.recording import SourceKind, SourceState, TelemetryRecording
from ometer_tui.tui.bench_bridge import BenchmarkBridge


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
