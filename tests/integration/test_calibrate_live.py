"""Self-calibration for real: a short measurement of the engine over loopback, and
``ometer-tui calibrate``.

Structure and sanity only (cost > 0, a finite positive capacity, counts that agree):
never a speed threshold, the machine may be loaded.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from ometer_tui import cli
from ometer_tui.core.bench import calibrate, process_runner
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


def test_calibrate_json_drives_the_whole_engine_for_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ometer-tui calibrate --json`, measuring for real (small loads): every step is a
    run of the engine in an engine process of its own, its records and events counted,
    its chunks/s the engine's own reports, which agree with the runs' token counts."""
    path = tmp_path / "calibration.json"
    monkeypatch.setenv(calibrate.CACHE_ENV, str(path))
    real = calibrate.measure_calibration
    settings = CalibrationSettings(streams=(2, 5), tokens_per_request=50)
    monkeypatch.setattr(calibrate, "measure_calibration", lambda: real(settings))
    before = set(process_runner.idle_engine_pids())
    t0 = time.monotonic()
    try:
        assert cli.main(["calibrate", "--json"]) == 0
        engines = set(process_runner.idle_engine_pids()) - before
    finally:
        process_runner.shut_down_idle()
    assert time.monotonic() - t0 < 60  # a hang guard, not a speed figure
    doc = json.loads(capsys.readouterr().out)
    cal = Calibration.from_json(doc)
    assert doc["cache_written"] is True and calibrate.read_cached(path).calibration == cal
    # the engine ran in a process of its own, kept warm for the run that follows
    assert len(engines) == 1 and os.getpid() not in engines
    assert [s.streams for s in cal.steps] == [2, 5]  # two loads: both measured
    assert cal.tokens_per_request == 50
    for step in cal.steps:
        assert step.reports == 1 and step.start_lag_ms is not None
        assert step.runs >= step.streams  # 50 tokens at 100/s: a run ends every 0.5 s
        assert step.tokens == 50 * step.runs  # the server's usage: 50 a run
        # started, phases, a record per run, finished, and the engine's two load reports
        assert step.events >= step.runs + 4
        assert step.chunks_per_s > 0 and step.cpu_percent > 0 and step.lag_p99_ms >= 0
        # what the engine's reports counted against what its records hold: every token
        # of a finished run was read (but those read after the last report: less than
        # 0.2 s of the load, else a last report is sent), and each run, finished or cut
        # short at the stop, is at most its 50 tokens and a few reads of its own
        assert step.read_chunks >= step.tokens - 0.3 * step.offered_chunks_per_s - 10
        assert step.read_chunks <= (step.runs + step.streams) * (50 + 3)
        assert step.chunks_per_s <= step.read_chunks  # the steady second is part of it
    assert cal.per_chunk_us > 0 and math.isfinite(cal.per_chunk_us)
    assert cal.capacity_chunks_per_s > 0 and math.isfinite(cal.capacity_chunks_per_s)
    assert cal.cores >= 1
    assert cal.python.startswith(("CPython", "PyPy"))
    assert cal.took_s > 0
    assert abs(cal.measured_at - time.time()) < 60
    if Path("/proc/self/stat").exists():
        assert _calibration_servers() == []  # the server process is gone


def test_where_workers_are_not_processes_the_engine_runs_on_the_calibrating_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without engine processes (``shards.default_shard_factory`` off POSIX), the same
    engine and reports, on the calibrating loop: no engine process is started."""
    monkeypatch.setattr(calibrate, "ENGINE_PROCESS", False)
    before = set(process_runner.idle_engine_pids())
    cal = calibrate.measure_calibration(CalibrationSettings(streams=(3,), tokens_per_request=50))
    assert set(process_runner.idle_engine_pids()) == before
    (step,) = cal.steps
    assert step.reports == 1 and step.runs >= 3 and step.tokens == 50 * step.runs
    assert step.events >= step.runs + 4 and step.read_chunks > 0


def test_a_calibration_against_no_engine_is_an_error_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An engine that cannot reach the server: a CalibrationError naming it."""
    monkeypatch.setattr(calibrate._Server, "url", property(lambda self: "http://127.0.0.1:9"))
    try:
        with pytest.raises(calibrate.CalibrationError, match="engine"):
            calibrate.measure_calibration(CalibrationSettings(streams=(1,)))
    finally:
        process_runner.shut_down_idle()


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
