"""Atomic writes: all-or-nothing, named errors, no temp files left behind."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ometer_tui.core.atomic import write_atomic

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_text_and_bytes_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    if os.name == "posix":
        assert _mode(target) == 0o644
    write_atomic(target, b"\x00\x01", mode=0o600)
    assert target.read_bytes() == b"\x00\x01"
    if os.name == "posix":
        assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_missing_folder_raises_oserror_naming_path(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "out.json"
    with pytest.raises(FileNotFoundError) as info:
        write_atomic(target, "x")
    assert str(target) in str(info.value)
    assert not (tmp_path / "nope").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_no_permission_raises_oserror_naming_path(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as info:
            write_atomic(folder / "out.json", "x")
        assert str(folder / "out.json") in str(info.value)
    finally:
        folder.chmod(0o700)


def test_failed_replace_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old")

    def boom(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError) as info:
        write_atomic(target, "new")
    assert str(target) in str(info.value)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_failed_write_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.csv"
    target.write_text("old")

    def no_sync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


_CHILD = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ometer_tui.core.atomic import write_atomic
target = Path(sys.argv[2])
size = int(sys.argv[3])
blobs = [b"A" * size, b"B" * size]
print("ready", flush=True)
i = 0
while True:
    write_atomic(target, blobs[i % 2])
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    size = 4 * 1024 * 1024
    target = tmp_path / "big.bin"
    target.write_bytes(b"A" * size)
    rng = random.Random(1234)
    deadline = time.monotonic() + 2.5
    kills = 0
    while kills < 4 and time.monotonic() < deadline:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(REPO), str(target), str(size)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.01, 0.12))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        kills += 1
        data = target.read_bytes()
        assert len(data) == size
        assert data in (b"A" * size, b"B" * size)
    assert kills >= 2
