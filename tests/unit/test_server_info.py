"""Server information from each server's own pages (pure assembly, no network)."""

from __future__ import annotations

from ometer_tui.core.telemetry.server_info import (
    LoadedModel,
    ServerDetails,
    details_from,
    metrics_facts,
    ollama_models,
)

NOW = 1_800_000_000.0
VLLM_METRICS = (
    "# HELP process_start_time_seconds Start time of the process since unix epoch.\n"
    "# TYPE process_start_time_seconds gauge\n"
    f"process_start_time_seconds {NOW - 7260}\n"
    '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="q"} 0\n'
)


def test_vllm_version_served_models_with_their_context_uptime_and_health() -> None:
    answers = {
        "/version": {"version": "0.8.5"},
        "/v1/models": {"object": "list", "data": [
            {"id": "Qwen/Qwen2.5-7B-Instruct", "owned_by": "vllm", "max_model_len": 32768}]},
        "/health": {},
        "/metrics": VLLM_METRICS,
    }  # fmt: skip
    d = details_from(answers, [], prefer_ollama=False, now=NOW)
    assert (d.kind, d.version, d.healthy, d.uptime_s) == ("vLLM", "0.8.5", True, 7260.0)
    assert d.models == (LoadedModel("Qwen/Qwen2.5-7B-Instruct", context_length=32768),)
    assert not d.models_loaded and d.slots is None


def test_llama_cpp_props_build_alias_context_slots_and_never_the_model_path() -> None:
    props = {
        "build_info": "b5091-4ccea213", "model_alias": "smollm2", "total_slots": 4,
        "model_path": "/home/someone/models/SmolLM2-135M.gguf",
        "default_generation_settings": {"n_ctx": 1024},
    }  # fmt: skip
    d = details_from({"/props": props, "/health": {"status": "ok"}}, [], now=NOW)
    assert (d.kind, d.version, d.slots, d.healthy) == ("llama.cpp", "b5091-4ccea213", 4, True)
    assert d.models == (LoadedModel("smollm2", context_length=1024),) and d.models_loaded
    assert "/home/someone" not in repr(d)


def test_tgi_info_model_version_and_context() -> None:
    info = {"model_id": "bigscience/bloom-560m", "version": "2.0.4", "max_total_tokens": 2048}
    d = details_from({"/info": info}, [], now=NOW)
    assert (d.kind, d.version, d.context_size) == ("TGI", "2.0.4", 2048)
    assert d.models == (LoadedModel("bigscience/bloom-560m"),)


def test_ollama_loaded_models_with_vram_context_and_expiry() -> None:
    ps = {"models": [{
        "name": "llama3:8b", "size": 6_000_000_000, "size_vram": 4_500_000_000,
        "context_length": 8192, "expires_at": "2026-11-30T10:42:13.5+01:00",
    }, {"name": 7}, "junk"]}  # fmt: skip
    d = details_from({"/api/version": {"version": "0.12.3"}, "/api/ps": ps}, [], now=NOW)
    assert (d.kind, d.version, d.models_loaded) == ("Ollama", "0.12.3", True)
    (m,) = d.models
    assert (m.name, m.size_bytes, m.vram_bytes, m.context_length) == (
        "llama3:8b", 6_000_000_000, 4_500_000_000, 8192)  # fmt: skip
    assert m.expires_at == "2026-11-30T10:42:13.5+01:00"
    assert ollama_models({"models": "no"}) == ()


def test_the_endpoints_flavour_decides_between_two_kinds_one_server_answers_as() -> None:
    answers = {"/api/version": {"version": "0.12"}, "/api/ps": {"models": []},
               "/version": {"version": "0.8"}, "/v1/models": {"data": [{"id": "m"}]}}  # fmt: skip
    assert details_from(answers, []).kind == "Ollama"
    other = details_from(answers, [], prefer_ollama=False)
    assert (other.kind, other.version, other.models) == ("vLLM", "0.8", (LoadedModel("m"),))


def test_metrics_facts_tolerate_odd_lines() -> None:
    assert metrics_facts("process_start_time_seconds abc\nllamacpp:x 1\n") == ("llama.cpp", None)
    assert metrics_facts("sglang:num_running_reqs 0\nprocess_start_time_seconds 5e9\n") == (
        "SGLang", 5e9)  # fmt: skip
    assert metrics_facts("") == (None, None)


def test_what_failed_is_grouped_by_reason_and_nothing_answered_is_empty() -> None:
    d = details_from({}, [("/api/version", "cannot connect"), ("/props", "cannot connect"),
                          ("/info", "not JSON")])  # fmt: skip
    assert d.empty and d.kind is None and d.models == ()
    assert d.problems() == ["cannot connect (/api/version, /props)", "not JSON (/info)"]
    assert not ServerDetails(answered=("/health",)).empty
