"""``ometer-tui run`` as a user runs it: a real subprocess, real loopback HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ometer_tui.demo.server import DemoServerThread

CANARY = "sk-CANARY-headless-7f3a9c2e1b"
#: one measured 4-token run of demo-fast, no warm-up: the flags most tests start from
ONE_QUICK_DEMO_RUN = (
    "run", "--demo", "--model", "demo-fast:1b", "--passes", "1", "--warmup", "0",
    "--max-tokens", "4",
)  # fmt: skip


def ometer(
    *args: str, env: dict[str, str] | None = None, config: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    if config is not None:
        full_env["OMETER_TUI_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "ometer_tui", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"  # does not exist: defaults


def test_help_and_version_do_not_start_the_tui(config: Path) -> None:
    result = ometer("--help", config=config)
    assert result.returncode == 0 and "run" in result.stdout and "exit codes" in result.stdout
    result = ometer("run", "--help", config=config)
    assert result.returncode == 0 and "--concurrency" in result.stdout
    result = ometer("--version", config=config)
    assert result.returncode == 0 and result.stdout.startswith("ometer-tui ")


def test_demo_run_writes_json_to_stdout_and_progress_to_stderr(config: Path) -> None:
    result = ometer(
        "run",
        "--demo",
        "--model",
        "demo-fast",
        "--passes",
        "2",
        "--warmup",
        "1",
        "--max-tokens",
        "8",
        "--format",
        "json",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and data["simulated"] is True
    (model,) = data["models"]
    assert model["name"] == "demo-fast:1b"
    assert [r["warmup"] for r in model["runs"]] == [True, False, False]
    assert "SIMULATED" in result.stderr and "run 2/2" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "md"])
def test_other_formats(config: Path, fmt: str) -> None:
    result = ometer(
        *ONE_QUICK_DEMO_RUN,
        "--format",
        fmt,
        config=config,
    )
    assert result.returncode == 0, result.stderr
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert len(rows) == 1 and rows[0]["model"] == "demo-fast:1b"
    else:
        assert "| demo-fast:1b" in result.stdout


def test_output_file_and_failed_runs_exit_1(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = ometer(
        "run",
        "--demo",
        "--model",
        "demo-fast:1b",
        "--model",
        "fault-forbidden",
        "--passes",
        "1",
        "--warmup",
        "0",
        "--max-tokens",
        "4",
        "--output",
        str(out),
        config=config,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    data = json.loads(out.read_text())
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["fault-forbidden"]["runs"][0]["status"] == 403
    assert by_name["demo-fast:1b"]["runs"][0]["ok"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "no-such-model"], "--model"),
        (["--passes", "0"], "--passes"),
        (["--concurrency", "-3"], "--concurrency"),
        (["--prompts", "/nonexistent/prompts.txt"], "not found"),
        (["--image", "/nonexistent.png"], "not found"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    config: Path, args: list[str], needle: str
) -> None:
    result = ometer("run", "--demo", *args, config=config)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_binary_prompt_file_and_non_image_are_refused(config: Path, tmp_path: Path) -> None:
    binary = tmp_path / "prompts.bin"
    binary.write_bytes(b"\x00\x01\x02hello")
    result = ometer("run", "--demo", "--prompts", str(binary), config=config)
    assert result.returncode == 2 and "binary" in result.stderr
    fake = tmp_path / "cat.png"
    fake.write_text("not an image")
    result = ometer("run", "--demo", "--image", str(fake), config=config)
    assert result.returncode == 2 and "not a PNG" in result.stderr


def test_unreachable_endpoint_exits_3(config: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ometer("run", "--url", f"http://127.0.0.1:{port}", "--api", "ollama", config=config)
    assert result.returncode == 3, result.stderr
    assert "refused" in result.stderr


def test_settings_error_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[defaults\npasses = 3\n")
    result = ometer("run", "--demo", config=bad)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "line 1" in result.stderr


def test_token_from_env_reaches_the_server_and_never_the_output(
    config: Path, tmp_path: Path
) -> None:
    from ometer_tui.demo.server import run_in_thread

    with run_in_thread(require_token=CANARY) as server:
        out = tmp_path / "r.json"
        result = ometer(
            "run",
            "--url",
            server.url,
            "--api",
            "openai",
            "--token-env",
            "MY_TOKEN",
            "--model",
            "demo-fast:1b",
            "--passes",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "4",
            "--output",
            str(out),
            env={"MY_TOKEN": CANARY},
            config=config,
        )
        assert result.returncode == 0, result.stderr
        assert CANARY not in result.stdout + result.stderr + out.read_text()
        result = ometer(
            "run", "--url", server.url, "--api", "openai", "--token-env", "UNSET_X", config=config
        )
        assert result.returncode == 2 and "UNSET_X" in result.stderr


def test_sigterm_keeps_finished_runs_and_exits_130(
    config: Path, tmp_path: Path, demo_server: DemoServerThread
) -> None:
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ometer_tui",
            "run",
            "--url",
            demo_server.url,
            "--api",
            "ollama",
            "--model",
            "demo-slow:70b",
            "--passes",
            "20",
            "--warmup",
            "0",
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMETER_TUI_CONFIG": str(config)},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:  # wait until one run has finished
        if "run 1/20" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    data = json.loads(out.read_text())
    assert data["cancelled"] is True
    runs = data["models"][0]["runs"]
    assert 1 <= len(runs) < 20 and all(r["ok"] for r in runs)


def test_generation_flags_reach_the_plan(config: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object"}')
    result = ometer(
        *ONE_QUICK_DEMO_RUN,
        "--temperature",
        "0.5",
        "--top-p",
        "0.9",
        "--top-k",
        "20",
        "--seed",
        "3",
        "--stop",
        "END",
        "--frequency-penalty",
        "0.1",
        "--presence-penalty",
        "0.2",
        "--keep-alive",
        "1m",
        "--response-format",
        str(schema),
        "--format",
        "json",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout)["plan"]["params"]
    assert params["max_tokens"] == 4 and params["temperature"] == 0.5
    assert params["top_p"] == 0.9 and params["top_k"] == 20 and params["seed"] == 3
    assert params["stop"] == ["END"] and params["keep_alive"] == "1m"
    assert params["frequency_penalty"] == 0.1 and params["presence_penalty"] == 0.2
    assert params["response_format"] == "json_schema"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = ometer("run", "--demo", "--response-format", str(bad), config=config)
    assert result.returncode == 2 and "--response-format" in result.stderr
