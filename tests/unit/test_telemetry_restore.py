"""A result read back from its JSON export keeps its server telemetry (issue #13): the
recording is rebuilt from the ``telemetry`` section, so an opened result shows its
series' peaks and means, and export -> read -> export writes the same section."""

from __future__ import annotations

import json

import pytest

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import to_dict
from ometer_tui.core.export_read import ForeignDocumentError, result_from_dict
from ometer_tui.core.report.page import to_html
from ometer_tui.core.telemetry.live import snapshot
from ometer_tui.core.telemetry.prometheus import Scrape, parse
from ometer_tui.core.telemetry.recording import SourceKind, SourceState, TelemetryRecording
from ometer_tui.core.telemetry.sources import (
    OllamaState,
    PrometheusState,
    apply_prometheus,
    apply_ps,
)
from ometer_tui.core.telemetry.summary import summarise
from tests.history_samples import synthetic_result
from tests.unit.test_telemetry import S, _ps, vllm_page

URL = "http://127.0.0.1:8000"


def recording() -> TelemetryRecording:
    """vLLM metrics (gauges, a counter turned into a rate, a TTFT histogram) and Ollama's
    /api/ps (a reload event) at uneven times, so values and times need rounding."""
    rec = TelemetryRecording(interval_s=0.5)
    prom, ollama = PrometheusState(), OllamaState()
    rec.sources[SourceKind.PROMETHEUS] = SourceState(
        SourceKind.PROMETHEUS, URL + "/metrics", available=True, samples=4
    )
    rec.sources[SourceKind.LLAMACPP_SLOTS] = SourceState(
        SourceKind.LLAMACPP_SLOTS, URL + "/slots", reason="404 Not Found", failures=3
    )
    rec.server["version"] = "0.9.1"
    apply_prometheus(rec, prom, parse_page(0, 100, (10, 10, 10)), 0)
    apply_ps(rec, ollama, _ps(("m", 5_000)), 0)
    rec.origin_ns = S // 3
    apply_prometheus(rec, prom, parse_page(3, 317, (10, 12, 14)), 1_234_567_891)
    apply_ps(rec, ollama, _ps(("m", 5_000)), 1_234_567_891)
    apply_prometheus(rec, prom, parse_page(2, 371, (11, 14, 15)), 2_718_281_828)
    apply_ps(rec, ollama, _ps(("m", 3_000)), 2_718_281_828)  # reloaded, partly in RAM
    return rec


def parse_page(running: float, gen: float, buckets: tuple[float, float, float]) -> Scrape:
    return parse(vllm_page(running=running, gen=gen, ttft_buckets=buckets))


def result_with_telemetry() -> BenchmarkResult:
    result = synthetic_result(runs=4, models=("m",), seed=7)
    result.telemetry = recording()
    return result


def test_export_read_export_keeps_the_telemetry_section() -> None:
    doc = json.loads(json.dumps(to_dict(result_with_telemetry())))  # as the history stores it
    section = doc["telemetry"]
    assert section["histograms"] and section["model_events"] and section["summary"]
    assert section["ttft_client_vs_server"]
    read = result_from_dict(doc)
    assert isinstance(read.telemetry, TelemetryRecording)
    again = json.loads(json.dumps(to_dict(read)))
    assert again["telemetry"] == section
    # and once more: a re-read re-export is stable
    assert to_dict(result_from_dict(again))["telemetry"] == section


def test_the_read_recording_has_the_saved_series_peaks_and_means() -> None:
    original = result_with_telemetry()
    doc = to_dict(original)
    rec = result_from_dict(doc).telemetry
    assert rec is not None
    assert set(rec.series) == set(original.telemetry.series)  # type: ignore[union-attr]
    assert rec.sources[SourceKind.LLAMACPP_SLOTS].describe() == "unavailable: 404 Not Found"
    assert rec.server == original.telemetry.server and rec.server["version"] == "0.9.1"  # type: ignore[union-attr]
    assert [e.kind for e in rec.events] == ["reloaded"]
    peaks = {(s.metric, s.label): (s.peak, s.mean) for s in summarise(rec)}
    for saved in doc["telemetry"]["summary"]:
        peak, mean = peaks[(saved["metric"], saved["label"] or "")]
        assert peak == pytest.approx(saved["peak"], rel=1e-5)
        assert mean == pytest.approx(saved["mean"], rel=1e-5)
    final = snapshot(rec, final=True)  # what the results screen's panel shows
    running = next(s for s in final.series if s.metric == "requests_running")
    assert (running.peak, running.mean, running.current) == (3.0, 2.5, 2.0)


def test_the_report_of_a_read_result_draws_its_telemetry() -> None:
    doc = to_dict(result_from_dict(to_dict(result_with_telemetry())))
    html = to_html(doc)
    assert "Server telemetry requests_running" in html and "404 Not Found" in html


def test_no_telemetry_reads_as_none_and_a_bad_section_is_refused() -> None:
    doc = to_dict(synthetic_result(runs=2, models=("m",)))
    assert doc["telemetry"] is None and result_from_dict(doc).telemetry is None
    doc["telemetry"] = {"interval_s": 1.0, "series": [{"source": "prometheus"}]}
    with pytest.raises(ForeignDocumentError):
        result_from_dict(doc)
