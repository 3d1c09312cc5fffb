"""Self-calibration for real: a short measurement over loopback, and ``ometer-tui calibrate``.

Structure and sanity only (cost > 0, a finite positive capacity): never a speed threshold,
the machine may be loaded.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from ometer_tui import cli
from ometer_tui.core.bench import calibrate
from ometer_tui.core.bench.calibrate import Calibration, CalibrationSettings, CalibrationStep


def _calibration_servers() -> list[int]:
    """Our child processes running the calibration server (Linux: /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"calibrate_server.py" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_short_real_calibration() -> None:
    settings = CalibrationSettings(streams=(4, 16), step_s=0.3, settle_s=0.15)
    t0 = time.monotonic()
    cal = calibrate.measure_calibration(settings)
    assert time.monotonic() - t0 < 30  # a hang guard, not a speed figure
    assert 1 <= len(cal.steps) <= 2
    for step in cal.steps:
        assert step.chunks_per_s > 0
        assert step.cpu_percent > 0
        assert step.lag_samples > 10
        assert step.lag_p99_ms >= 0
    assert cal.steps[0].streams == 4
    assert cal.per_chunk_us > 0 and math.isfinite(cal.per_chunk_us)
    assert cal.capacity_chunks_per_s > 0 and math.isfinite(cal.capacity_chunks_per_s)
    assert cal.cores >= 1
    assert cal.python.startswith(("CPython", "PyPy"))
    assert cal.took_s > 0
    assert abs(cal.measured_at - time.time()) < 60
    assert Calibration.from_json(json.loads(json.dumps(cal.to_json()))) == cal
    if Path("/proc/self/stat").exists():
        assert _calibration_servers() == []  # the server process is gone


def _fake() -> Calibration:
    return Calibration(
        per_chunk_us=31.5,
        capacity_chunks_per_s=14_321.0,
        cores=2,
        python="CPython 3.11.7",
        measured_at=time.time(),
        took_s=4.2,
        steps=(CalibrationStep(20, 100.0, 2000.0, 14.0, 1.5, 150, 1.2),),
        machine="m",
        note="a caveat",
    )


def test_the_calibrate_command_measures_caches_and_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "calibration.json"
    monkeypatch.setenv(calibrate.CACHE_ENV, str(path))
    monkeypatch.setattr(calibrate, "measure_calibration", _fake)
    assert cli.main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "one worker holds: ~14,000 chunks/s within 3 ms" in out
    assert "per-chunk cost:   31.5 us" in out
    assert "20 streams x 100 tok/s" in out
    assert "note: a caveat" in out
    assert str(path) in out
    assert calibrate.read_cached(path).calibration is not None


def test_calibrate_json_and_it_always_measures_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "calibration.json"
    monkeypatch.setenv(calibrate.CACHE_ENV, str(path))
    calls: list[int] = []

    def counted() -> Calibration:
        calls.append(1)
        return _fake()

    monkeypatch.setattr(calibrate, "measure_calibration", counted)
    assert cli.main(["calibrate", "--json"]) == 0
    assert cli.main(["calibrate", "--json"]) == 0
    assert len(calls) == 2  # a fresh cache does not stop `calibrate` from measuring
    doc = json.loads(capsys.readouterr().out.split("\n}\n", 1)[1])
    assert doc["capacity_chunks_per_s"] == 14_321.0
    assert doc["cache_path"] == str(path)
    assert doc["cache_written"] is True
    assert doc["steps"][0]["streams"] == 20


def test_a_failed_calibration_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(calibrate.CACHE_ENV, str(tmp_path / "c.json"))

    def failing() -> Calibration:
        raise calibrate.CalibrationError("the calibration server did not start")

    monkeypatch.setattr(calibrate, "measure_calibration", failing)
    assert cli.main(["calibrate"]) == 1
    err = capsys.readouterr().err
    assert "the calibration failed: the calibration server did not start" in err
    assert not (tmp_path / "c.json").exists()
