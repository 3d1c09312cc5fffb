"""Telemetry parsing and folding: Prometheus text, counters as rates, histograms as
percentiles over the run, llama.cpp slots, Ollama loads and reloads, bounded series."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.telemetry.prometheus import MalformedMetrics, parse
from ometer_tui.core.telemetry.recording import (
    MAX_POINTS,
    SourceKind,
    SourceState,
    TelemetryRecording,
)
from ometer_tui.core.telemetry.sources import (
    BadAnswer,
    OllamaState,
    PrometheusState,
    apply_prometheus,
    apply_ps,
    apply_slots,
    check_prometheus,
)
from ometer_tui.core.telemetry.summary import (
    client_vs_server,
    histogram_summaries,
    reloads,
    summarise,
    telemetry_dict,
)

S = 1_000_000_000  # ns per second


def vllm_page(*, running: float, gen: float, ttft_buckets: tuple[float, float, float]) -> str:
    b1, b2, b3 = ttft_buckets
    return f"""# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="m"}} {running}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",model_name="m"}} 0.25
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{{engine="0",model_name="m"}} {gen}
# TYPE vllm:generation_tokens_created gauge
vllm:generation_tokens_created{{engine="0",model_name="m"}} 1.7e9
# TYPE vllm:some_metric_we_do_not_map gauge
vllm:some_metric_we_do_not_map 99
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{le="0.1",model_name="m"}} {b1}
vllm:time_to_first_token_seconds_bucket{{le="0.5",model_name="m"}} {b2}
vllm:time_to_first_token_seconds_bucket{{le="+Inf",model_name="m"}} {b3}
vllm:time_to_first_token_seconds_count{{model_name="m"}} {b3}
vllm:time_to_first_token_seconds_sum{{model_name="m"}} {b1 * 0.05 + (b2 - b1) * 0.3}
"""


def test_vllm_page_gives_known_keys_with_labels_folded() -> None:
    scrape = parse(vllm_page(running=3, gen=120, ttft_buckets=(2, 4, 4)))
    assert scrape.gauges == {"requests_running": 3.0, "kv_cache_usage": 25.0}
    assert scrape.counters == {"generation_tokens": 120.0}  # not the _created timestamp
    assert scrape.names["requests_running"] == "vllm:num_requests_running"
    hist = scrape.histograms[("server_ttft", "m")]
    assert hist.count == 4 and hist.buckets[0.1] == 2


@pytest.mark.parametrize(
    "text",
    ['vllm:num_requests_running{model_name="m 3\n', "vllm:num_requests_running abc\n"],
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(MalformedMetrics):
        parse(text)


def test_a_page_without_known_metrics_is_not_a_source() -> None:
    with pytest.raises(BadAnswer):
        check_prometheus(parse("<html><body>llama.cpp web ui</body></html>"))


def test_counters_become_rates_and_histograms_percentiles_over_the_run() -> None:
    rec = TelemetryRecording(interval_s=1.0)
    state = PrometheusState()
    apply_prometheus(rec, state, parse(vllm_page(running=0, gen=100, ttft_buckets=(10, 10, 10))), 0)
    rec.origin_ns = 0
    apply_prometheus(
        rec, state, parse(vllm_page(running=4, gen=300, ttft_buckets=(10, 12, 14))), 2 * S
    )
    apply_prometheus(
        rec, state, parse(vllm_page(running=2, gen=340, ttft_buckets=(11, 14, 15))), 4 * S
    )
    gen = rec.series[(SourceKind.PROMETHEUS, "generation_tokens", "")]
    assert gen.points == [(2 * S, 100.0), (4 * S, 20.0)]  # tokens per second
    assert rec.counters["generation_tokens"] == (100.0, 340.0)
    (h,) = histogram_summaries(rec)
    # over the run: 5 requests, 1 below 0.1 s, 3 in (0.1, 0.5], 1 above 0.5
    assert h.count == 5 and h.model == "m"
    assert h.p50_s == pytest.approx(0.1 + 0.4 * (2.5 - 1) / 3)
    assert h.p99_s == 0.5  # in the +Inf bucket: its lower bound, as Prometheus does
    peaks = {s.metric: (s.peak, s.mean) for s in summarise(rec)}
    assert peaks["requests_running"] == (4.0, 2.0)  # mean of 0, 4, 2


def test_a_counter_reset_is_not_a_negative_rate() -> None:
    rec = TelemetryRecording(interval_s=1.0)
    state = PrometheusState()
    apply_prometheus(rec, state, parse(vllm_page(running=0, gen=500, ttft_buckets=(0, 0, 0))), 0)
    apply_prometheus(rec, state, parse(vllm_page(running=0, gen=30, ttft_buckets=(0, 0, 0))), S)
    assert rec.series[(SourceKind.PROMETHEUS, "generation_tokens", "")].points == [(S, 30.0)]


def test_llamacpp_slots_busy_idle_and_context() -> None:
    rec = TelemetryRecording(interval_s=1.0)
    # as llama.cpp (xllamacpp 2026.10) sends them: the idle slot has no token counts
    busy = {
        "id": 1, "n_ctx": 1024, "speculative": False, "is_processing": True, "id_task": 2,
        "n_prompt_tokens": 41, "n_prompt_tokens_processed": 39, "n_prompt_tokens_cache": 2,
        "next_token": [{"has_next_token": True, "n_remain": 62, "n_decoded": 5}],
    }  # fmt: skip
    slots = [{"id": 0, "n_ctx": 1024, "speculative": False, "is_processing": False}, busy]
    apply_slots(rec, slots, S)
    assert rec.series[(SourceKind.LLAMACPP_SLOTS, "slots_busy", "")].points == [(S, 1.0)]
    assert rec.series[(SourceKind.LLAMACPP_SLOTS, "slots_idle", "")].points == [(S, 1.0)]
    assert rec.series[(SourceKind.LLAMACPP_SLOTS, "tokens_cached", "")].points == [(S, 2.0)]
    assert rec.series[(SourceKind.LLAMACPP_SLOTS, "context_used", "")].points == [(S, 46.0)]
    assert rec.server["n_ctx_per_slot"] == 1024
    with pytest.raises(BadAnswer):
        apply_slots(rec, {"error": "slots disabled"}, 2 * S)


def _ps(*models: tuple[str, int]) -> dict[str, object]:
    return {
        "models": [
            {
                "name": name,
                "size": 5_000,
                "size_vram": vram,
                "context_length": 4096,
                "expires_at": "2030-01-01T00:00:00Z",
            }
            for name, vram in models
        ]
    }


def _result(model: str, spans: list[tuple[float, float]]) -> BenchmarkResult:
    info = ModelInfo(name=model)
    plan = BenchmarkPlan(endpoint=Endpoint(name="e", url="http://127.0.0.1:1"), models=(info,))
    records = [
        RunRecord(model, 1, 0, False, True, ttft_s=0.2, started_at_s=a, finished_at_s=b)
        for a, b in spans
    ]
    return BenchmarkResult(
        plan=plan,
        started_at=datetime.now(UTC),
        models={model: ModelResult(info=info, records=records)},
    )


def test_ollama_reload_is_an_event_that_flags_the_runs_it_touched() -> None:
    rec = TelemetryRecording(interval_s=1.0, origin_ns=0)
    state = OllamaState()
    apply_ps(rec, state, _ps(("llama3:8b", 5_000)), 0)
    apply_ps(rec, state, _ps(("llama3:8b", 5_000)), 1 * S)
    apply_ps(rec, state, _ps(), 2 * S)  # unloaded (keep-alive ran out, or evicted)
    apply_ps(rec, state, _ps(("llama3:8b", 3_000)), 3 * S)  # back, partly on the CPU
    apply_ps(rec, state, _ps(("llama3:8b", 5_000)), 4 * S)  # reloaded with another size
    kinds = [(e.kind, e.t_ns) for e in rec.events]
    assert kinds == [("unloaded", 2 * S), ("reloaded", 3 * S), ("reloaded", 4 * S)]
    ram = rec.series[(SourceKind.OLLAMA_PS, "size_ram", "llama3:8b")].points
    assert ram[2] == (3 * S, 2_000.0)  # size - size_vram: the part in RAM
    result = _result("llama3:8b", [(0.1, 0.5), (2.2, 2.9), (3.5, 3.8)])
    touched = {(r.kind, r.t_s): r.runs for r in reloads(result, rec)}
    assert touched[("reloaded", 3.0)] == (1,)  # the run in flight between 2 s and 3 s
    assert touched[("reloaded", 4.0)] == (2,)


def test_series_stay_bounded_and_cover_the_whole_run() -> None:
    rec = TelemetryRecording(interval_s=0.25, origin_ns=0)
    series = rec.series_for(SourceKind.PROMETHEUS, "requests_running", "requests", "x")
    for i in range(10 * MAX_POINTS):
        series.add(i, float(i))
    assert len(series.points) < MAX_POINTS
    assert series.points[0][0] == 0 and series.points[-1][0] > 9 * MAX_POINTS


def test_client_vs_server_ttft_from_ollama_timings_and_export_has_no_token() -> None:
    from ometer_tui.core.bench.records import ServerTimings
    from ometer_tui.core.export import to_dict

    result = _result("m", [(0.0, 1.0), (1.0, 2.0)])
    for r in result.models["m"].records:
        r.server_timings = ServerTimings(load_s=0.01, prompt_eval_s=0.09, eval_s=0.5)
    rec = TelemetryRecording(interval_s=1.0, origin_ns=0)
    result.telemetry = rec
    (c,) = client_vs_server(result, rec)
    assert c.client_mean_s == pytest.approx(0.2) and c.server_mean_s == pytest.approx(0.1)
    assert c.difference_s == pytest.approx(0.1) and "network" in c.named
    doc = to_dict(result)
    assert doc["telemetry"]["ttft_client_vs_server"][0]["difference_s"] == pytest.approx(0.1)
    assert telemetry_dict(_result("m", [])) is None  # telemetry off: null in the export


def test_prefix_cache_hit_rate_preemptions_and_prompt_tokens_become_rates() -> None:
    def page(hits: float, queries: float, preempted: float, prompt: float) -> str:
        return (
            "# TYPE vllm:prefix_cache_hits counter\n"
            f'vllm:prefix_cache_hits_total{{model_name="m"}} {hits}\n'
            "# TYPE vllm:prefix_cache_queries counter\n"
            f'vllm:prefix_cache_queries_total{{model_name="m"}} {queries}\n'
            "# TYPE vllm:num_preemptions counter\n"
            f'vllm:num_preemptions_total{{model_name="m"}} {preempted}\n'
            "# TYPE vllm:prompt_tokens counter\n"
            f'vllm:prompt_tokens_total{{model_name="m"}} {prompt}\n'
        )

    rec = TelemetryRecording(interval_s=1.0, origin_ns=0)
    state = PrometheusState()
    apply_prometheus(rec, state, parse(page(10, 100, 0, 1000)), 0)
    apply_prometheus(rec, state, parse(page(40, 140, 3, 3000)), 2 * S)
    last = {k[1]: s.last for k, s in rec.series.items()}
    assert last["prefix_cache_hit_rate"] == pytest.approx(75.0)  # 30 hits of 40 queries
    assert last["preemptions"] == pytest.approx(1.5)  # 3 in 2 s
    assert last["prompt_tokens"] == pytest.approx(1000.0)  # 2000 tokens in 2 s


def test_the_history_keeps_the_telemetry_series_of_a_saved_result(tmp_path: Path) -> None:
    from ometer_tui.core.history import HistoryStore

    result = _result("m", [(0.0, 1.0)])
    rec = TelemetryRecording(interval_s=0.5, origin_ns=0)
    rec.sources[SourceKind.PROMETHEUS] = SourceState(
        SourceKind.PROMETHEUS, "http://h/metrics", available=True, samples=2
    )
    series = rec.series_for(SourceKind.PROMETHEUS, "requests_running", "requests", "vllm:x")
    series.add(0, 1.0)
    series.add(S // 2, 3.0)
    result.telemetry = rec
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        saved = store.document(store.add_result(result))["telemetry"]
    (s,) = saved["series"]
    assert (s["source"], s["metric"], s["unit"]) == ("prometheus", "requests_running", "requests")
    assert saved["interval_s"] == 0.5 and saved["sources"][0]["samples"] == 2
    assert s["samples"] == [[0.0, 1], [0.5, 3]]  # seconds since the start, value
