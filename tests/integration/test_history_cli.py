"""`ometer-tui history ...`, `compare` and the automatic save of `run`, as subprocesses
against the demo endpoint and synthetic export files, with their exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ometer_tui.core.export import to_dict
from tests.history_samples import synthetic_result

TWO_MODEL_DEMO_RUN = (
    "run", "--demo", "--model", "demo-fast:1b", "--model", "demo-medium:8b",
    "--prompt", "hello", "--passes", "6", "--warmup", "0", "--max-tokens", "4",
)  # fmt: skip
ONE_MODEL_DEMO_RUN = ("run", "--demo", "--model", "demo-fast:1b", "--prompt", "hello")


def ometer(
    *args: str, history: Path, tmp: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OMETER_TUI_HISTORY": str(history),
        "OMETER_TUI_CONFIG": str(tmp / "no-config.toml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "ometer_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@dataclass
class DemoHistory:
    tmp: Path
    history: Path
    export: Path  # the JSON export of result #1, written by the run itself
    run_stderr: str

    def __call__(self, *args: str, history: Path | None = None) -> subprocess.CompletedProcess[str]:
        return ometer(*args, history=history or self.history, tmp=self.tmp)


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHistory]:
    """One two-model demo run, saved automatically to a fresh history (read-only use)."""
    tmp = tmp_path_factory.mktemp("history_cli")
    history = tmp / "h" / "history.sqlite3"
    export = tmp / "run.json"
    done = ometer(*TWO_MODEL_DEMO_RUN, "--output", str(export), history=history, tmp=tmp)
    assert done.returncode == 0, done.stderr
    yield DemoHistory(tmp, history, export, done.stderr)


# --------------------------------------------------------------------------- run saves


def test_run_saves_and_says_where(demo_history: DemoHistory) -> None:
    assert f"saved to history as #1 ({demo_history.history})" in demo_history.run_stderr
    listed = demo_history("history", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)["results"]
    assert entry["id"] == 1 and entry["simulated"] is True
    assert entry["models"] == ["demo-fast:1b", "demo-medium:8b"]
    assert (entry["runs"], entry["ok"], entry["errors"]) == (12, 12, 0)
    table = demo_history("history", "list")
    assert table.returncode == 0 and "#1" in table.stdout and "demo-medium:8b" in table.stdout


def test_show_json_equals_the_json_export(demo_history: DemoHistory) -> None:
    shown = demo_history("history", "show", "1", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == demo_history.export.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fmt", "expect"),
    [("table", "History #1"), ("md", "| demo-fast:1b |"), ("csv", "started_at,endpoint")],
)
def test_show_formats(demo_history: DemoHistory, fmt: str, expect: str) -> None:
    shown = demo_history("history", "show", "#1", "--format", fmt)
    assert shown.returncode == 0, shown.stderr
    assert expect in shown.stdout


def test_export(demo_history: DemoHistory, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    done = demo_history("history", "export", "1", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == demo_history.export.read_text(encoding="utf-8")
    csv_out = tmp_path / "again.csv"
    assert demo_history("history", "export", "1", "--output", str(csv_out)).returncode == 0
    assert len(csv_out.read_text().splitlines()) == 13  # header + 12 runs
    missing = demo_history("history", "export", "1", "--output", str(tmp_path / "no" / "x.json"))
    assert missing.returncode == 2 and "--output" in missing.stderr


@pytest.mark.parametrize("action", ["show", "export", "delete"])
@pytest.mark.parametrize("bad_id", ["99", "abc"])
def test_unknown_or_bad_id_exits_2(
    demo_history: DemoHistory, tmp_path: Path, action: str, bad_id: str
) -> None:
    extra = ("--output", str(tmp_path / "x.json")) if action == "export" else ()
    done = demo_history("history", action, bad_id, *extra)
    assert done.returncode == 2
    assert ("no result #99" if bad_id == "99" else "not a history id") in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_no_history_flag_and_empty_list(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite3"
    done = ometer(
        *ONE_MODEL_DEMO_RUN, "--passes", "1", "--warmup", "0", "--max-tokens", "2",
        "--no-history", "--format", "json", history=history, tmp=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "history" not in done.stderr and not history.exists()
    listed = ometer("history", "list", history=history, tmp=tmp_path)
    assert listed.returncode == 0 and "no results" in listed.stderr and not history.exists()
    assert (
        json.loads(ometer("history", "list", "--json", history=history, tmp=tmp_path).stdout)[
            "results"
        ]
        == []
    )
    shown = ometer("history", "show", "1", history=history, tmp=tmp_path)
    assert shown.returncode == 2 and "no history yet" in shown.stderr


def test_history_flag_wins_over_the_environment(tmp_path: Path) -> None:
    flagged = tmp_path / "flag.sqlite3"
    done = ometer(
        *ONE_MODEL_DEMO_RUN, "--passes", "1", "--warmup", "0", "--max-tokens", "2",
        "--history", str(flagged), "--format", "json",
        history=tmp_path / "env.sqlite3", tmp=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert flagged.exists() and not (tmp_path / "env.sqlite3").exists()
    listed = ometer(
        "--history", str(flagged), "history", "list", "--json", history=tmp_path / "e", tmp=tmp_path
    )
    assert len(json.loads(listed.stdout)["results"]) == 1


def test_damaged_history_never_stops_the_run(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    history.write_bytes(b"not a database at all\n" * 100)
    out = tmp_path / "r.json"
    done = ometer(
        *ONE_MODEL_DEMO_RUN, "--passes", "2", "--warmup", "0", "--max-tokens", "2",
        "--output", str(out), history=history, tmp=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "not saved to history" in done.stderr and "damaged" in done.stderr
    assert json.loads(out.read_text())["models"][0]["summary"]["ok"] == 2
    assert history.read_bytes() == b"not a database at all\n" * 100
    listed = ometer("history", "list", history=history, tmp=tmp_path)
    assert listed.returncode == 2 and "damaged" in listed.stderr


def test_cancelled_run_is_saved(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    env = {
        **os.environ,
        "OMETER_TUI_HISTORY": str(history),
        "OMETER_TUI_CONFIG": str(tmp_path / "none.toml"),
    }
    child = subprocess.Popen(
        [
            sys.executable, "-m", "ometer_tui", "run", "--demo", "--model", "demo-slow:70b",
            "--prompt", "x", "--passes", "200", "--warmup", "0", "--max-tokens", "4",
            "--format", "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    assert child.stderr is not None
    lines = []
    for line in child.stderr:
        lines.append(line)
        if "run 2/200" in line:
            child.send_signal(signal.SIGINT)
            break
    out, rest = child.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert child.returncode == 130, stderr
    assert "saved to history as #1" in stderr
    doc = json.loads(out)
    assert doc["cancelled"] is True
    shown = ometer("history", "show", "1", "--format", "json", history=history, tmp=tmp_path)
    assert json.loads(shown.stdout) == doc


# --------------------------------------------------------------------------- import / delete


def test_import_delete_and_foreign_files(demo_history: DemoHistory, tmp_path: Path) -> None:
    history = tmp_path / "ci.sqlite3"
    done = demo_history("history", "import", str(demo_history.export), history=history)
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stderr and "as #1" in done.stderr
    again = demo_history("history", "import", str(demo_history.export), history=history)
    assert again.returncode == 0 and "already in the history as #1" in again.stderr
    shown = demo_history("history", "show", "1", "--format", "json", history=history)
    assert shown.stdout == demo_history.export.read_text(encoding="utf-8")

    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"benchmark": "guidellm", "results": []}))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xff not json")
    mangled = tmp_path / "mangled.json"
    doc = json.loads(demo_history.export.read_text())
    doc["started_at"] = "last tuesday"
    mangled.write_text(json.dumps(doc))
    for bad, message in (
        (mangled, "not as exported"),
        (foreign, "not an ometer-tui JSON export"),
        (garbage, "not JSON"),
        (tmp_path / "missing.json", "cannot read"),
    ):
        done = demo_history("history", "import", str(bad), history=history)
        assert done.returncode == 2 and message in done.stderr, done.stderr

    deleted = demo_history("history", "delete", "1", history=history)
    assert deleted.returncode == 0 and "deleted #1" in deleted.stderr
    assert demo_history("history", "show", "1", history=history).returncode == 2
    assert (
        json.loads(demo_history("history", "list", "--json", history=history).stdout)["results"]
        == []
    )


# --------------------------------------------------------------------------- compare


def test_compare_two_rows_of_one_result_and_the_gate(demo_history: DemoHistory) -> None:
    # demo-medium has a slower first token (80 ms) than demo-fast (30 ms)
    rows = ("compare", "1", "--model", "demo-fast:1b", "--model", "demo-medium:8b")
    done = demo_history(*rows, "--format", "json")
    assert done.returncode == 0, done.stderr
    (pair,) = json.loads(done.stdout)["pairs"]
    ttft = next(m for m in pair["metrics"] if m["metric"] == "ttft_p50")
    assert ttft["verdict"] == "worse" and ttft["ci_low"] > 0
    gated = demo_history(*rows, "--fail-on", "ttft_p50:10")
    assert gated.returncode == 1
    assert "gate: ttft_p50 worse by" in gated.stderr
    loose = demo_history(*rows, "--fail-on", "ttft_p50:1000", "--fail-on", "error_rate:0")
    assert loose.returncode == 0 and "gate passed" in loose.stderr
    unjudged = demo_history(*rows, "--fail-on", "ttft_p90:10")
    assert unjudged.returncode == 0 and "not judged" in unjudged.stderr  # 6 runs < 20


def test_compare_history_id_with_its_own_export(demo_history: DemoHistory) -> None:
    for fmt, expect in (
        ("table", "TTFT p50 (ms)"),
        ("md", "| TTFT p50 (ms) |"),
        ("csv", "a_source"),
    ):
        done = demo_history("compare", "1", str(demo_history.export), "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert expect in done.stdout
    gated = demo_history(
        "compare", "1", str(demo_history.export), "--fail-on", "ttft_p50:0", "--fail-on",
        "error_rate:0",
    )  # fmt: skip
    assert gated.returncode == 0, gated.stdout  # identical: never significantly worse


def test_gate_on_synthetic_exports(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(to_dict(synthetic_result(runs=30, seed=1, ttft_ms=120))))
    after.write_text(json.dumps(to_dict(synthetic_result(runs=30, seed=2, ttft_ms=150))))
    history = tmp_path / "unused.sqlite3"
    worse = ometer(
        "compare",
        str(before),
        str(after),
        "--fail-on",
        "ttft_p50:10",
        history=history,
        tmp=tmp_path,
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    within = ometer(
        "compare",
        str(before),
        str(after),
        "--fail-on",
        "ttft_p50:60",
        history=history,
        tmp=tmp_path,
    )
    assert within.returncode == 0
    better = ometer(
        "compare", str(after), str(before), "--fail-on", "ttft_p50:0", history=history, tmp=tmp_path
    )
    assert better.returncode == 0
    out = tmp_path / "cmp.md"
    saved = ometer(
        "compare", str(before), str(after), "--format", "md", "--output", str(out),
        history=history, tmp=tmp_path,
    )  # fmt: skip
    assert saved.returncode == 0 and out.read_text() == saved.stdout
    assert not history.exists()  # comparing files never creates a history


def test_compare_bad_input_exits_2(demo_history: DemoHistory, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.json"
    foreign.write_text("[1, 2, 3]")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(to_dict(synthetic_result(runs=6, models=("x", "y")))))
    export = str(demo_history.export)
    cases = [
        (("compare", "1", "42"), "no result #42"),
        (("compare", "1", str(foreign)), "not an ometer-tui JSON export"),
        (("compare", "1", str(tmp_path / "missing.json")), "cannot read"),
        (("compare", export, str(other)), "nothing to pair"),
        (("compare", export, export, "--model", "nope"), "not measured in both"),
        (("compare", str(other.parent / "other.json")), "give two models"),
        (("compare", "1", "1", "--fail-on", "speed:5"), "unknown metric"),
    ]
    cases[5] = (("compare", str(_one_model(tmp_path))), "give two models")
    for args, message in cases:
        done = demo_history(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)


def _one_model(tmp_path: Path) -> Path:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(to_dict(synthetic_result(runs=6))))
    return path


def test_help_lists_the_commands(tmp_path: Path) -> None:
    top = ometer("--help", history=tmp_path / "h", tmp=tmp_path)
    assert "history" in top.stdout and "compare" in top.stdout
    cmp = ometer("compare", "--help", history=tmp_path / "h", tmp=tmp_path)
    assert "--fail-on" in cmp.stdout and "request_throughput" in cmp.stdout


def test_save_after_run_honours_the_settings_switch(tmp_path: Path) -> None:
    """``[history] enabled = false`` (once the settings model carries it) stops saving."""
    import argparse
    import io

    from ometer_tui.core.history import HistorySettings
    from ometer_tui.history_cli import save_after_run

    result = synthetic_result(runs=2)
    args = argparse.Namespace(history=str(tmp_path / "h.sqlite3"), no_history=False, quiet=False)
    err = io.StringIO()
    assert save_after_run(args, result, err, HistorySettings(enabled=False)) is None
    assert err.getvalue() == "" and not (tmp_path / "h.sqlite3").exists()
    outcome = save_after_run(args, result, err, HistorySettings())
    assert outcome is not None and outcome.saved and "saved to history as #1" in err.getvalue()
    nothing = synthetic_result(runs=0)
    for model in nothing.models.values():
        model.records = [r for r in model.records if r.warmup]
    assert save_after_run(args, nothing, err, HistorySettings()) is None  # only warm-up


def test_a_run_shows_its_trend_against_the_latest_comparable_result(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    same = (*ONE_MODEL_DEMO_RUN, "--passes", "6", "--warmup", "0", "--max-tokens", "4")
    first = ometer(*same, "--format", "json", history=history, tmp=tmp_path)
    assert first.returncode == 0 and " vs #" not in first.stderr
    second = ometer(*same, "--format", "json", history=history, tmp=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "demo-fast:1b vs #1 (" in second.stderr and "TTFT p50 " in second.stderr
    other = ometer(
        *ONE_MODEL_DEMO_RUN, "--passes", "6", "--warmup", "0", "--max-tokens", "8",
        "--format", "json", history=history, tmp=tmp_path,
    )  # fmt: skip
    assert other.returncode == 0 and " vs #" not in other.stderr  # another workload
    quiet = ometer(*same, "--quiet", "--format", "json", history=history, tmp=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_no_token_reaches_the_history(tmp_path: Path) -> None:
    """A canary token, sent to a demo server that requires it, is nowhere in the
    history file, its WAL, its stored documents, or what `history show` prints."""
    import secrets
    import sqlite3
    import zlib

    from ometer_tui.demo.server import run_in_thread

    canary = f"sk-HISTCANARY-{secrets.token_hex(8)}"
    history = tmp_path / "h" / "history.sqlite3"
    with run_in_thread(require_token=canary) as server:
        env = {
            **os.environ,
            "OMETER_TUI_HISTORY": str(history),
            "OMETER_TUI_CONFIG": str(tmp_path / "none.toml"),
            "HIST_CANARY": canary,
        }
        done = subprocess.run(
            [
                sys.executable, "-m", "ometer_tui", "run", "--url", server.url, "--api",
                "ollama", "--token-env", "HIST_CANARY", "--model", "demo-fast:1b",
                "--passes", "2", "--warmup", "0", "--max-tokens", "4", "--format", "json",
            ],
            capture_output=True, text=True, env=env, timeout=90,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "saved to history as #1" in done.stderr
    files = list(history.parent.iterdir())
    assert history in files
    for path in files:
        assert canary.encode() not in path.read_bytes(), path
    with sqlite3.connect(history) as conn:
        (blob,) = conn.execute("SELECT doc FROM results").fetchone()
    assert canary.encode() not in zlib.decompress(blob)
    for fmt in ("json", "csv", "md", "table"):
        shown = ometer("history", "show", "1", "--format", fmt, history=history, tmp=tmp_path)
        assert shown.returncode == 0 and canary not in shown.stdout + shown.stderr
