"""``ometer-tui run --sweep/--slo/--find-max-*/--repeat``: real subprocesses against the
demo endpoint (step lines on stderr, the table at the end, exit codes) and one-line
errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_headless import ometer

#: demo-fast, 4-token answers, no warm-up: quick steps
QUICK = ("run", "--demo", "--model", "demo-fast:1b", "--warmup", "0", "--max-tokens", "4")
NO_TELEMETRY = ("--telemetry", "off")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_a_concurrency_sweep_prints_each_step_and_the_step_table(config: Path) -> None:
    result = ometer(
        *QUICK, "--sweep", "concurrency=1,2", "--requests", "6", "--slo", "ttft:2000",
        "--format", "json", *NO_TELEMETRY, config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "ometer-tui: concurrency=1,2, SLOs ttft <= 2000 ms at p90" in err
    assert "  step 0, concurrency 1" in err and "  step 1, concurrency 2" in err
    assert "goodput " in err and "(100% met)" in err
    assert "run 1/" not in err  # a line per step, not per request
    assert "saturated" not in err  # a demo model with room for 2 streams
    assert err.index("step 0") < err.index("step 1") < err.index("knee at concurrency")
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2 and doc["sweep"]["spec"] == "concurrency=1,2"
    assert [s["load"]["value"] for s in doc["steps"]] == [1, 2]
    assert all(s["models"][0]["slo"]["attainment"] == 1.0 for s in doc["steps"])
    assert len(doc["models"][0]["runs"]) == 12


def test_no_step_meeting_the_slos_exits_1_and_says_so(config: Path) -> None:
    result = ometer(
        *QUICK, "--sweep", "rate=5,10", "--requests", "5", "--slo", "ttft:1",
        "--format", "table", *NO_TELEMETRY, config=config,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "No step met the SLOs." in result.stderr and "No step met the SLOs." in result.stdout
    assert "rate 5/s" in result.stdout and "misses" in result.stdout
    assert "| Step |" not in result.stdout and "Step " in result.stdout  # the plain table


def test_repeat_reports_a_confidence_interval(config: Path) -> None:
    result = ometer(
        *QUICK, "--passes", "3", "--repeat", "3", "--format", "md", *NO_TELEMETRY,
        config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Repeats: concurrency 1, 3 repeat(s) per step" in result.stdout
    assert "Mean ± 95% confidence interval (Student t) across the repeats:" in result.stdout
    assert " ± " in result.stdout.split("across the repeats:")[1]
    assert "step 0 repeat 3" in result.stderr


def test_find_max_concurrency_reports_each_probe_and_the_answer(config: Path) -> None:
    result = ometer(
        *QUICK, "--find-max-concurrency", "--slo", "ttft:5000", "--requests", "4",
        "--format", "json", *NO_TELEMETRY, config=config, timeout=120,
    )  # fmt: skip
    # a generous TTFT target: every probe meets it until the doubling stops at the cap
    assert result.returncode == 0, result.stderr
    assert "(probe)" in result.stderr and "meets the SLOs" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["sweep"]["mode"] == "search" and doc["sweep"]["search"]["best"] >= 1


@pytest.mark.parametrize("kind", ["concurrency", "rate"])
def test_a_search_that_finds_nothing_exits_1(config: Path, kind: str) -> None:
    result = ometer(
        *QUICK, f"--find-max-{kind}", "--slo", "ttft:1", "--requests", "3",
        "--format", "json", *NO_TELEMETRY, config=config,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"no {kind} meets the SLOs (the first probe missed)" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["sweep"]["search"]["best"] is None
    roles = [s["role"] for s in doc["steps"]]
    assert roles == (["anchor", "probe"] if kind == "rate" else ["probe"])


@pytest.mark.parametrize(
    ("flags", "first_line"),
    [
        (("--sweep", "rate=0"),
         "ometer-tui run: argument --sweep: rate=0: each rate must be more than 0, got 0"),
        (("--slo", "foo:1"), "ometer-tui run: argument --slo: foo:1: unknown SLO 'foo'"),
        (("--slo", "ttft:-5"),
         "ometer-tui run: argument --slo: ttft:-5: must be more than 0 ms, got -5"),
        (("--sweep", "concurrency=a"), "argument --sweep: concurrency=a: 'a' is not a whole"),
        (("--repeat", "0"), "argument --repeat: must be 1 or more, got 0"),
        (("--slo-percentile", "101"), "argument --slo-percentile: must be more than 0 and at"),
        (("--find-max-rate",), "ometer-tui: --find-max-rate: give the targets with --slo"),
        (("--find-max-rate", "--find-max-concurrency"), "not allowed with argument"),
        (("--find-max-rate", "--slo", "ttft:5", "--sweep", "rate=1"),
         "ometer-tui: --find-max-rate and --sweep: give one, not both"),
        (("--no-early-stop",), "ometer-tui: --no-early-stop: applies to --sweep"),
        (("--search-precision", "0.1", "--slo", "ttft:5", "--find-max-concurrency"),
         "ometer-tui: --search-precision: applies to --find-max-rate"),
        (("--sweep", "rate=1,2", "--rate", "3"),
         "ometer-tui: --rate: --sweep rate=1,2 sets each step's rate; give one, not both"),
        (("--sweep", "concurrency=1,2", "--concurrency", "3"),
         "--concurrency: --sweep concurrency=1,2 sets each step's streams"),
        (("--find-max-concurrency", "--slo", "ttft:9", "--rate", "3"),
         "--rate: --find-max-concurrency runs closed-loop steps (rates: --sweep rate=...)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_flag_and_exit_2(
    config: Path, flags: tuple[str, ...], first_line: str
) -> None:
    result = ometer(*QUICK, *flags, *NO_TELEMETRY, config=config)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert first_line in lines[0], result.stderr
    assert len(lines) <= 2 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_slo_table_in_the_settings_names_its_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[slo]\nttft = -5\n", encoding="utf-8")
    result = ometer(*QUICK, "--slo", "tpot:5", *NO_TELEMETRY, config=config)
    assert result.returncode == 2
    assert "slo.ttft: must be more than 0 ms, got -5" in result.stderr


def test_slos_on_a_single_run_give_its_goodput(config: Path) -> None:
    result = ometer(
        *QUICK, "--passes", "4", "--slo", "ttft:5000", "--slo", "e2el:5000",
        "--format", "json", *NO_TELEMETRY, config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ometer-tui: one step, SLOs ttft <= 5000 ms, e2el <= 5000 ms at p90" in result.stderr
    doc = json.loads(result.stdout)
    ((step,),) = [doc["steps"]]
    assert step["role"] == "repeat" and step["load"] == {"kind": "concurrency", "value": 1}
    slo = step["models"][0]["slo"]
    assert slo["requests"] == 4 and slo["met"] == 4 and slo["attainment"] == 1.0
    assert slo["goodput_rps"] > 0


def test_a_sweep_repeats_each_step(config: Path) -> None:
    result = ometer(
        *QUICK, "--sweep", "concurrency=1,2", "--repeat", "2", "--requests", "3",
        "--format", "json", *NO_TELEMETRY, config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(s["index"], s["repeat"]) for s in doc["steps"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    repeats = doc["sweep"]["repeats"]
    assert [(r["index"], r["load"]["value"]) for r in repeats] == [(0, 1), (1, 2)]
    ci = repeats[1]["metrics"]["throughput_rps"]
    assert ci["n"] == 2 and ci["ci95_low"] <= ci["mean"] <= ci["ci95_high"]
    assert "step 1 repeat 2, concurrency 2" in result.stderr
