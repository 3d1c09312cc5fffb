"""Bad input from the user: a clear error naming the flag, field or file, and nothing
half-written. (Settings files: tests/unit/test_settings.py and the TUI navigation tests;
the TUI run panel: tests/tui/test_model_picker.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ometer_tui.demo.server import DemoServerThread


def ometer(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ometer_tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "none.toml")},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--passes", "-1"], ["--passes", "-1"]),
        (["--warmup", "-2"], ["--warmup"]),
        (["--concurrency", "100000"], ["concurrency", "1..4096", "100000"]),
        (["--concurrency", "0"], ["--concurrency"]),
        (["--parallel-models", "1000"], ["parallel_models", "1..64"]),
        (["--max-tokens", "0"], ["--max-tokens"]),
        (["--model", "no-such-model", "--model", "demo-fast"], ["--model", "'no-such-model'"]),
        (["--prompts", "{tmp}/empty.txt"], ["--prompts", "empty.txt", "has no prompts"]),
        (["--prompts", "{tmp}/missing.txt"], ["--prompts", "missing.txt", "not found"]),
        (["--prompts", "{tmp}/binary.txt"], ["--prompts", "binary.txt", "binary"]),
        (["--image", "{tmp}/cat.png"], ["--image", "cat.png", "not a PNG"]),
        (["--output", "{tmp}/no/such/folder/r.json"], ["--output", "does not exist"]),
        (["--url", "localhost:11434"], ["--url", "http://"]),
    ],
)
def test_headless_usage_errors_name_the_flag_and_write_nothing(
    tmp_path: Path, demo_server: DemoServerThread, args: list[str], needles: list[str]
) -> None:
    (tmp_path / "empty.txt").write_text("\n   \n\n")
    (tmp_path / "binary.txt").write_bytes(b"\x7fELF\x00\x01\x02")
    (tmp_path / "cat.png").write_text("<svg>not a png</svg>")
    before = sorted(p.name for p in tmp_path.iterdir())
    where = [] if "--url" in args else ["--url", demo_server.url, "--api", "ollama"]
    filled = [a.format(tmp=tmp_path) for a in args]
    started = time.monotonic()
    proc = ometer(tmp_path, "run", *where, "--model", "demo-fast:1b", "--passes", "1", *filled)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert time.monotonic() - started < 30  # refused up front, not after a benchmark


def test_output_folder_is_checked_before_the_benchmark(
    tmp_path: Path, demo_server: DemoServerThread
) -> None:
    proc = ometer(
        tmp_path, "run", "--url", demo_server.url, "--api", "ollama", "--model",
        "demo-slow:70b", "--passes", "50", "--output", str(tmp_path / "gone" / "r.csv"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"--output: folder {tmp_path / 'gone'} does not exist" in proc.stderr
    assert "run 1/" not in proc.stderr  # not one run was spent


async def test_app_starts_with_an_unset_token_variable_and_says_which(
    tmp_path: Path, demo_server: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import DataTable

    from ometer_tui.tui.app import OmeterApp
    from ometer_tui.tui.screens.endpoints import EndpointsScreen

    monkeypatch.delenv("OMETER_UNSET_TOKEN_VAR", raising=False)
    config = tmp_path / "config.toml"
    text = (
        f'[[endpoints]]\nname = "needs-token"\nurl = "{demo_server.url}"\napi = "ollama"\n'
        'token_env = "OMETER_UNSET_TOKEN_VAR"\n'
    )
    config.write_text(text)
    app = OmeterApp(config_path=config)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, EndpointsScreen)  # started, so the user can fix it
        assert app.settings_error is None
        row = app.screen.query_one("#endpoints", DataTable).get_row("needs-token")
        shown = " ".join(str(c) for c in row) + app.export_screenshot()
        assert "OMETER_UNSET_TOKEN_VAR" in shown
    assert config.read_text() == text  # untouched
