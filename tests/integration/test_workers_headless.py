"""``ometer-tui run --workers N``: a real subprocess against the demo endpoint (the load
split across workers and merged), the flag's limits and the settings' key."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ometer_tui.cli import build_parser
from ometer_tui.core.settings import SettingsError, load_settings
from tests.integration.test_headless import ONE_QUICK_DEMO_RUN, ometer


def test_workers_split_an_open_loop_and_merge_one_result(tmp_path: Path) -> None:
    result = ometer(
        *ONE_QUICK_DEMO_RUN, "--rate", "40", "--requests", "10", "--workers", "2",
        "--warmup", "1", "--format", "json", "--telemetry", "off", config=tmp_path / "c.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the load split across 2 workers" in result.stderr
    (model,) = json.loads(result.stdout)["models"]
    runs = [r for r in model["runs"] if not r["warmup"]]
    assert sorted(r["load"]["conversation"] for r in runs) == list(range(10))
    assert model["summary"]["runs"] == 10 and model["summary"]["load"]["requests_sent"] == 10
    assert sum(r["warmup"] for r in model["runs"]) == 2  # each worker warms its own
    assert "load: open loop, 10 sent" in result.stderr


def test_workers_split_every_repeat_the_same_way(tmp_path: Path) -> None:
    result = ometer(
        *ONE_QUICK_DEMO_RUN, "--passes", "2", "--prompt", "a", "--prompt", "b",
        "--concurrency", "4", "--workers", "3", "--warmup", "1", "--repeat", "2",
        "--format", "json", "--telemetry", "off", config=tmp_path / "c.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the load split across 3 workers" in result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["steps"]) == 2
    (model,) = doc["models"]
    runs = [r for r in model["runs"] if not r["warmup"]]
    pairs = sorted((r["pass"], r["prompt_index"]) for r in runs)
    assert pairs == sorted([(1, 0), (1, 1), (2, 0), (2, 1)] * 2)
    assert sum(r["warmup"] for r in model["runs"]) == 3 * 2  # every step on 3 workers


def test_workers_split_each_of_several_endpoints_and_merge_their_rows(tmp_path: Path) -> None:
    result = ometer(
        "run", "--demo", "--api", "ollama", "--api", "openai", "--model", "demo-fast:1b",
        "--passes", "2", "--prompt", "a", "--concurrency", "2", "--warmup", "1",
        "--max-tokens", "4", "--workers", "2", "--format", "json", "--telemetry", "off",
        config=tmp_path / "c.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "one endpoint after the other, each on 2 workers" in result.stderr
    doc = json.loads(result.stdout)
    rows = {m["endpoint"]: m for m in doc["models"]}
    assert len(rows) == 2 and len(doc["endpoints"]) == 2
    for model in rows.values():
        assert model["name"] == "demo-fast:1b"
        runs = [r for r in model["runs"] if not r["warmup"]]
        assert sorted(r["pass"] for r in runs) == [1, 2]
        assert model["summary"]["runs"] == 2 and model["summary"]["ok"] == 2
        assert sum(r["warmup"] for r in model["runs"]) == 2  # each worker warms its own


def test_fewer_workers_than_asked_are_said() -> None:
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.models import Endpoint, ModelInfo
    from ometer_tui.worker_args import describe

    plan = BenchmarkPlan(Endpoint("e", "http://127.0.0.1:9"), (ModelInfo("m"),), concurrency=1)
    assert describe(plan, 1) is None
    assert describe(plan, 4) == (
        "ometer-tui: one worker (of 4 asked: no more than there are streams)"
    )
    three = describe(replace(plan, passes=3, concurrency=3), 8)
    assert (
        three == "ometer-tui: the load split across 3 workers (of 8 asked: no more than "
        "there are streams)"
    )


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_workers_out_of_range_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--workers", value])
    assert "argument --workers:" in capsys.readouterr().err
    assert build_parser().parse_args(["run", "--workers", "64"]).workers == 64


def test_settings_defaults_hold_workers(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[defaults]\nworkers = 4\n", encoding="utf-8")
    assert load_settings(path).defaults.workers == 4
    path.write_text("[defaults]\nworkers = 65\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="workers: must be"):
        load_settings(path)
