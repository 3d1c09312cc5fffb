"""SVG snapshots of the results screen's telemetry panel at 120x36 and 80x24.

The recording is built here with fixed values (no server, no clock): four sources (two
answer, two do not, with their reasons) and a handful of series shaped like a run that
ramps up and drains. Update with ``pytest tests/tui/test_snapshots_telemetry.py
--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.telemetry.recording import SourceKind, SourceState, TelemetryRecording
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from tests.tui.test_snapshots import SnapHost, fixed_result

SnapCompare = Callable[..., bool]
URL = "http://127.0.0.1:11434"
SECOND = 1_000_000_000


def fixed_recording(samples: int = 40) -> TelemetryRecording:
    rec = TelemetryRecording(interval_s=1.0, origin_ns=0, started_ns=0, stopped_ns=samples)
    for kind, path, reason in (
        (SourceKind.PROMETHEUS, "/metrics", None),
        (SourceKind.LLAMACPP_SLOTS, "/slots", "404 Not Found"),
        (SourceKind.LLAMACPP_PROPS, "/props", "404 Not Found"),
        (SourceKind.OLLAMA_PS, "/api/ps", None),
    ):
        rec.sources[kind] = SourceState(
            kind, URL + path, available=reason is None, reason=reason, samples=samples
        )
    prom, ps = SourceKind.PROMETHEUS, SourceKind.OLLAMA_PS
    shapes: list[tuple[SourceKind, str, str, str, Callable[[int], float]]] = [
        (prom, "requests_running", "requests", "vllm:num_requests_running",
         lambda i: min(i // 3, 4) if i < 32 else max(0, 4 - (i - 31))),
        (prom, "requests_waiting", "requests", "vllm:num_requests_waiting",
         lambda i: max(0, (i - 10) // 4) if i < 28 else 0),
        (prom, "kv_cache_usage", "%", "vllm:kv_cache_usage_perc",
         lambda i: round(60 * math.sin(math.pi * i / samples), 1)),
        (prom, "generation_tokens", "tok/s", "vllm:generation_tokens",
         lambda i: 0.0 if i == 0 else 180 + 40 * math.sin(i / 3)),
        (prom, "server_ttft", "s", "vllm:time_to_first_token_seconds",
         lambda i: 0.05 + 0.004 * i),
        (ps, "models_loaded", "models", "models", lambda i: 1 if i < 20 else 2),
    ]  # fmt: skip
    for source, metric, unit, name, shape in shapes:
        series = rec.series_for(source, metric, unit, name)
        for i in range(samples):
            series.add(i * SECOND, float(shape(i)))
    ram = rec.series_for(ps, "size_ram", "bytes", "size - size_vram", "demo-fast:1b")
    for i in range(samples):
        ram.add(i * SECOND, 807_000_000.0)
    return rec


def telemetry_app() -> SnapHost:
    result: BenchmarkResult = fixed_result()
    result.telemetry = fixed_recording()

    def screen(app: SnapHost) -> ResultsScreen:
        return ResultsScreen(BenchmarkSession.of_result(app, result), show_clock=False)

    return SnapHost(screen)


def test_telemetry_panel_after_the_run(snap_compare: SnapCompare) -> None:
    """Sources with their states, current values with units, a sparkline per series,
    peak and mean beside each."""
    assert snap_compare(telemetry_app(), terminal_size=(120, 36))


def test_telemetry_panel_80x24(snap_compare: SnapCompare) -> None:
    """Fewer rows (the panel scrolls), every column still readable."""
    assert snap_compare(telemetry_app(), terminal_size=(80, 24))
