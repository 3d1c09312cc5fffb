"""The HTML report from the command line: ``run --format html`` (to a file and to stdout,
and chosen by an ``.html`` file name), ``history show/export --format html``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ometer_tui.core.export import to_dict
from tests.history_samples import synthetic_result
from tests.unit.test_report_html import assert_self_contained, table_rows

QUICK_DEMO_RUN = (
    "run", "--demo", "--model", "demo-fast:1b", "--model", "demo-medium:8b",
    "--passes", "3", "--warmup", "0", "--max-tokens", "8", "--no-history",
)  # fmt: skip
SUMMARY = "One row per model (measured runs only)"


def ometer(*args: str, tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OMETER_TUI_HISTORY": str(tmp / "history.sqlite3"),
        "OMETER_TUI_CONFIG": str(tmp / "no-config.toml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "ometer_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_run_demo_format_html_writes_a_report_that_opens(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = ometer(*QUICK_DEMO_RUN, "--format", "html", "--output", str(out), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stderr
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    rows = table_rows(html, SUMMARY)
    assert [r[0] for r in rows] == ["demo-fast:1b", "demo-medium:8b"]
    assert all(r[1].startswith("3/0") for r in rows), rows  # "(1 cold)" may follow
    assert "<strong>Simulated:</strong>" in html
    assert "<title>Output tokens/s</title>" in html and "<title>TTFT, demo-fast:1b</title>" in html
    assert 'id="telemetry"' in html  # the demo serves /metrics and /api/ps


def test_an_html_file_name_chooses_the_format_and_stdout_takes_it_too(tmp_path: Path) -> None:
    out = tmp_path / "by-name.html"
    done = ometer(*QUICK_DEMO_RUN, "--telemetry", "off", "--output", str(out), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_self_contained(out.read_text(encoding="utf-8"))
    done = ometer(*QUICK_DEMO_RUN, "--telemetry", "off", "--format", "html", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_self_contained(done.stdout)
    assert 'id="telemetry"' not in done.stdout


def test_history_show_and_export_as_html(tmp_path: Path) -> None:
    doc = to_dict(synthetic_result(models=("m<1>", "m2"), error_every=4))
    export = tmp_path / "in.json"
    export.write_text(json.dumps(doc), encoding="utf-8")
    done = ometer("history", "import", str(export), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = ometer("history", "show", "1", "--format", "html", tmp=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert_self_contained(shown.stdout)
    assert [r[0] for r in table_rows(shown.stdout, SUMMARY)] == ["m<1>", "m2"]
    out = tmp_path / "out.html"
    written = ometer("history", "export", "1", "--output", str(out), tmp=tmp_path)
    assert written.returncode == 0, written.stderr
    assert out.read_text(encoding="utf-8") == shown.stdout
    forced = ometer(
        "history", "export", "1", "--output", str(tmp_path / "x.txt"), "--format", "html",
        tmp=tmp_path,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "x.txt").read_text(encoding="utf-8") == shown.stdout
