"""Telemetry against a real llama.cpp server (xllamacpp, 4 slots, /metrics and /slots on):
its metrics parse, requests processing rises during a concurrent run, busy slots are
seen, and the series land in the export. Skipped, with the reason, where xllamacpp or
the SmolLM2 model is missing (see tests/support/llama_server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.export import to_json
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.telemetry.recording import SourceKind
from ometer_tui.core.telemetry.sampler import TelemetrySampler
from ometer_tui.core.telemetry.server_info import fetch_server_details
from tests.support.llama_server import MODEL_ALIAS, LlamaUnavailable, llama_server

pytestmark = pytest.mark.real_server


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    try:
        with llama_server(tmp_path_factory.mktemp("llama"), n_parallel=4) as server:
            yield Endpoint(name="llama.cpp", url=server.url, api=ApiFlavour.OPENAI)
    except LlamaUnavailable as exc:
        pytest.skip(f"REAL-SERVER TEST NOT RUN: {exc}")


async def test_llama_cpp_telemetry_during_a_concurrent_run(llama: Endpoint) -> None:
    sampler = TelemetrySampler(llama, interval_s=0.25)
    states = await sampler.discover()
    assert {k for k, s in states.items() if s.available} == {
        SourceKind.PROMETHEUS,
        SourceKind.LLAMACPP_SLOTS,
        SourceKind.LLAMACPP_PROPS,
    }, {k: s.describe() for k, s in states.items()}
    assert states[SourceKind.OLLAMA_PS].reason is not None
    plan = BenchmarkPlan(
        endpoint=llama,
        models=(ModelInfo(name=MODEL_ALIAS),),
        prompts=("Write a short story about a lighthouse keeper.",),
        passes=8,
        warmup=0,
        concurrency=4,
        params=GenerationParams(max_tokens=32, temperature=0.0, seed=1),
    )
    sampler.start()
    result = await BenchmarkRunner(plan, sampler.observe).run()
    result.telemetry = rec = await sampler.stop()
    summary = result.models[MODEL_ALIAS].summary
    assert summary is not None and summary.ok == 8

    def peak(source: SourceKind, metric: str) -> float:
        return max(v for _, v in rec.series[(source, metric, "")].points)

    processing = rec.series[(SourceKind.PROMETHEUS, "requests_running", "")]
    assert processing.name == "llamacpp:requests_processing"
    assert peak(SourceKind.PROMETHEUS, "requests_running") >= 2
    assert peak(SourceKind.LLAMACPP_SLOTS, "slots_busy") >= 2
    assert peak(SourceKind.PROMETHEUS, "generation_tokens") > 0  # tokens per second
    first, last = rec.counters["generation_tokens"]
    assert last - first >= sum(r.output_tokens or 0 for r in result.models[MODEL_ALIAS].records)
    assert rec.server["total_slots"] == 4 and rec.server["n_ctx_per_slot"] == 1024
    doc = json.loads(to_json(result))["telemetry"]
    exported = {(s["source"], s["metric"]) for s in doc["series"]}
    assert {
        ("prometheus", "requests_running"),
        ("prometheus", "generation_tokens"),
        ("llamacpp_slots", "slots_busy"),
    } <= exported
    assert "model_path" not in json.dumps(doc)  # a local file path is not exported
    (cmp,) = doc["ttft_client_vs_server"]
    assert cmp["server_source"] == "llama.cpp timings.prompt_ms"


async def test_llama_cpp_server_info_build_model_context_slots_health(llama: Endpoint) -> None:
    d = await fetch_server_details(llama)
    assert d.kind == "llama.cpp", d
    assert d.version and d.version.startswith("b"), d.version  # build_info, e.g. b5091-...
    (model,) = d.models
    assert model.name == MODEL_ALIAS and model.context_length in (1024, 4096), model
    assert d.models_loaded and d.slots == 4 and d.healthy
    # llama.cpp has no /api/version, /version, /info: absent, not failing
    assert d.unavailable == (), d.unavailable
    assert "model_path" not in repr(d)
