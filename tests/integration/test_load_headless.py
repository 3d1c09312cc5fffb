"""``ometer-tui run`` with load flags: a real subprocess against the demo endpoint, and
the flag conversion with its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ometer_tui.cli import build_parser
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind
from ometer_tui.core.bench.workloads.errors import WorkloadError
from ometer_tui.core.bench.workloads.lengths import Fixed, Uniform
from ometer_tui.workload_args import load_spec_from_args
from tests.integration.test_headless import ONE_QUICK_DEMO_RUN, ometer


def spec_of(*flags: str):  # type: ignore[no-untyped-def]
    return load_spec_from_args(build_parser().parse_args(["run", *flags]))


def test_no_load_flag_keeps_the_plain_closed_loop() -> None:
    assert spec_of("--passes", "2") is None


def test_flags_become_a_load_spec() -> None:
    spec = spec_of(
        "--rate", "20", "--burstiness", "0.5", "--max-concurrency", "8", "--ramp-up", "5",
        "--duration", "30", "--requests", "500", "--max-errors", "10",
        "--input-tokens", "uniform:100,900", "--output-tokens", "128",
        "--shared-prefix", "50", "--turns", "2", "--seed", "4",
    )  # fmt: skip
    assert spec.arrival.rate == 20 and spec.arrival.kind is ArrivalKind.GAMMA
    assert spec.arrival.burstiness == 0.5 and spec.max_concurrency == 8
    assert spec.ramp_up_s == 5 and spec.stop.duration_s == 30 and spec.stop.max_requests == 500
    assert spec.stop.max_errors == 10
    assert spec.input_tokens == Uniform(100, 900) and spec.output_tokens == Fixed(128)
    assert (spec.shared_prefix_tokens, spec.turns, spec.seed) == (50, 2, 4)
    assert spec_of("--rate", "3", "--requests", "5").arrival.kind is ArrivalKind.POISSON
    builtin = spec_of("--dataset", "builtin", "--dataset-lengths", "100,", "--requests", "5")
    assert builtin.dataset is not None and len(builtin.dataset.entries) > 50


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--rate", "5"), "--requests or --duration"),
        (("--arrival", "gamma", "--requests", "3"), "--arrival: applies to an open loop"),
        (("--max-concurrency", "3", "--requests", "3"), "--max-concurrency: applies"),
        (("--rate", "2", "--arrival", "poisson", "--burstiness", "2", "--requests", "3"),
         "--burstiness: applies to --arrival gamma"),
        (("--input-tokens", "normal:1,2", "--requests", "3"), "--input-tokens: 'normal:1,2'"),
        (("--output-tokens", "x", "--requests", "3"), "--output-tokens: 'x'"),
        (("--dataset", "/nonexistent/d.jsonl", "--requests", "3"), "--dataset /nonexistent"),
        (("--dataset", "builtin", "--input-tokens", "5", "--requests", "3"),
         "--dataset and --input-tokens"),
        (("--dataset-lengths", "1,2", "--requests", "3"), "--dataset-lengths: filters"),
    ],
)  # fmt: skip
def test_bad_flags_get_one_line_naming_the_flag(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(WorkloadError) as info:
        spec_of(*flags)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("rate", ["0", "-1", "nan"])
def test_a_rate_at_or_below_zero_is_refused_by_the_parser(
    rate: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--rate", rate])
    assert "argument --rate: must be more than 0" in capsys.readouterr().err


def test_open_loop_run_headless_against_the_demo(tmp_path: Path) -> None:
    result = ometer(
        *ONE_QUICK_DEMO_RUN, "--rate", "40", "--arrival", "constant", "--requests", "10",
        "--output-tokens", "3", "--format", "json", config=tmp_path / "c.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (model,) = json.loads(result.stdout)["models"]
    runs = [r for r in model["runs"] if not r["warmup"]]
    assert len(runs) == 10
    assert all(r["output_tokens"] == 3 and r["load"]["output_tokens_asked"] == 3 for r in runs)
    lags = [r["load"]["schedule_lag_s"] for r in runs]
    assert all(lag >= 0 for lag in lags)
    load = model["summary"]["load"]
    assert load["mode"] == "open" and load["requests_sent"] == 10
    assert load["schedule_lag_s"]["n"] == 10
    assert "load: open loop, 10 sent" in result.stderr
    assert "schedule lag p50" in result.stderr


def test_bad_dataset_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{oops\n', encoding="utf-8")
    result = ometer(
        *ONE_QUICK_DEMO_RUN, "--dataset", str(bad), "--requests", "2", config=tmp_path / "c.toml"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ometer-tui: --dataset {bad} line 2: not JSON (Expecting property name enclosed in "
        "double quotes)"
    )


def test_markdown_report_has_the_load_line(tmp_path: Path) -> None:
    result = ometer(
        *ONE_QUICK_DEMO_RUN, "--rate", "30", "--requests", "6", "--format", "md",
        config=tmp_path / "c.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # (a loaded machine may add a stream or error note line for the model too)
    lines = result.stdout.splitlines()
    (line,) = [ln for ln in lines if ln.startswith("- demo-fast:1b: open loop")]
    assert "open loop, 6 sent" in line and "schedule lag p50" in line
    assert "\nLoad:\n" in result.stdout
