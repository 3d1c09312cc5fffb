"""``run --ray`` where no cluster is needed: a bad value is a usage error (2), a head
that does not answer is exit code 3 within seconds (``ray.init`` alone would retry for
minutes), and no Ray: one line, exit code 2 (tests/unit/test_ray_clock.py)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from ometer_tui.cli import main
from ometer_tui.core.bench.ray_shards import ray_available
from ometer_tui.exit_codes import EXIT_UNREACHABLE, EXIT_USAGE

_WHY_NOT = ray_available()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")

QUICK = ["run", "--demo", "--model", "demo-fast:1b", "--passes", "1", "--warmup", "0"]


@pytest.fixture(autouse=True)
def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMETER_TUI_CONFIG", str(tmp_path / "config.toml"))


@pytest.mark.parametrize("value", ["nonsense", "host:", ":6379", "host:port"])
def test_a_bad_address_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*QUICK, "--ray", value]) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ometer-tui: --ray: expected 'auto' or the cluster head's host:port")


def test_a_head_that_does_not_answer_is_unreachable_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert main([*QUICK, "--quiet", "--ray", f"127.0.0.1:{port}"]) == EXIT_UNREACHABLE
    assert time.monotonic() - started < 60  # not ray.init's minutes of retries
    err = capsys.readouterr().err
    assert f"the Ray cluster head at 127.0.0.1:{port} does not answer" in err
