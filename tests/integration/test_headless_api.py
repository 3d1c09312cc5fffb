"""``ometer-tui run --api PROFILE`` / ``--api custom --profile FILE``, ``--drop-unsupported``
and ``--truncate`` as a user runs them (a real subprocess, the demo over loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_headless import ometer

QUICK = ("--passes", "2", "--warmup", "0", "--max-tokens", "6", "--format", "json")
KEY_ENV = {"LLM_KEY": "demo-llm-api-key"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def _runs(stdout: str) -> list[dict[str, object]]:
    doc = json.loads(stdout)
    return [r for m in doc["models"] for r in m["runs"]]


def test_api_llm_api_streams_raw_text(config: Path, demo: DemoServerThread) -> None:
    result = ometer(
        "run", "--url", demo.url, "--api", "llm-api", "--token-env", "LLM_KEY",
        "--model", "text_model", *QUICK, env=KEY_ENV, config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = _runs(result.stdout)
    assert len(runs) == 2
    for run in runs:
        assert run["ok"] and run["ttft_s"] and run["tokens_source"] == "chunks"
        assert run["not_streamed"] is False


def test_api_llm_api_json_is_not_streamed_in_export_and_progress(
    config: Path, demo: DemoServerThread
) -> None:
    result = ometer(
        "run", "--url", demo.url, "--api", "llm-api-json", "--token-env", "LLM_KEY",
        "--model", "text_model", *QUICK, env=KEY_ENV, config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for run in _runs(result.stdout):
        assert run["ok"] and run["not_streamed"] is True
        assert run["ttft_s"] is None and run["e2e_s"]
    assert "not streamed: no TTFT" in result.stderr


def test_missing_key_is_the_servers_401(config: Path, demo: DemoServerThread) -> None:
    result = ometer(
        "run", "--url", demo.url, "--api", "llm-api", "--model", "text_model", *QUICK,
        config=config,
    )  # fmt: skip
    assert result.returncode == 1
    assert "401 Missing API Key" in result.stderr


def test_profile_file_and_drop_unsupported(
    config: Path, demo: DemoServerThread, tmp_path: Path
) -> None:
    profile = tmp_path / "myapi.toml"
    profile.write_text(
        'base = "llm-api"\n'
        "[chat]\n"
        "[chat.body]\n"
        'messages = "{messages}"\nmax_tokens = "{max_tokens}"\ntop_k = "{top_k}"\n',
        encoding="utf-8",
    )
    common = (
        "run", "--url", demo.url, "--api", "custom", "--profile", str(profile),
        "--token-env", "LLM_KEY", "--model", "text_model", "--top-k", "20", *QUICK,
    )  # fmt: skip
    refused = ometer(*common, env=KEY_ENV, config=config)
    assert refused.returncode == 1
    assert "rejected the parameter 'top_k'" in refused.stderr
    dropped = ometer(*common, "--drop-unsupported", env=KEY_ENV, config=config)
    assert dropped.returncode == 0, dropped.stderr
    assert "dropped top_k (rejected by the server)" in dropped.stderr
    for run in _runs(dropped.stdout):
        assert run["ok"] and run["dropped_params"] == ["top_k"]


def test_bad_profile_file_names_the_field(config: Path, tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('models = ["m"]\n[chat]\npath = "generate"\nmode = "sse"\n')
    result = ometer(
        "run", "--url", "http://127.0.0.1:9", "--api", "custom", "--profile", str(profile),
        config=config,
    )  # fmt: skip
    assert result.returncode == 2
    assert "chat.path: must start with /" in result.stderr
    result = ometer("run", "--api", "nonsense", config=config)
    assert result.returncode == 2 and "expected one of ollama, openai, custom" in result.stderr


def test_demo_with_tgi_profile(config: Path) -> None:
    """TGI refuses temperature 0 (the default) with a 422 naming it, as the real one does:
    the run says so, and --drop-unsupported sends it without (greedy on TGI)."""
    refused = ometer("run", "--demo", "--api", "tgi", *QUICK, config=config)
    assert refused.returncode == 1
    assert "rejected the parameter 'temperature'" in refused.stderr
    result = ometer("run", "--demo", "--api", "tgi", "--drop-unsupported", *QUICK, config=config)
    assert result.returncode == 0, result.stderr
    for run in _runs(result.stdout):
        assert run["ok"] and run["tokens_source"] == "usage" and run["output_tokens"] == 6
        assert run["dropped_params"] == ["temperature"]
