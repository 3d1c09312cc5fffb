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
    assert data["schema_version"] == 2 and data["simulated"] is True
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


# ----------------------------------------------------------------- issue #8 defects


def test_run_demo_applies_the_endpoint_flags(config: Path) -> None:
    # defect 1: the demo endpoint was returned before --timeout, --header, --token-env
    # and --url were looked at
    from ometer_tui.cli import build_parser
    from ometer_tui.core.bench.plan_builder import plan_endpoint
    from ometer_tui.core.settings import Settings
    from ometer_tui.headless import UsageError, _endpoint_for

    args = build_parser().parse_args(
        ["run", "--demo", "--header", "X-Team: bench", "--token-env", "H3_DEMO_TOKEN",
         "--api", "openai", "--timeout", "2"]
    )  # fmt: skip
    os.environ["H3_DEMO_TOKEN"] = CANARY
    try:
        with _endpoint_for(args, Settings()) as endpoint:
            assert endpoint.simulated and endpoint.url.startswith("http://127.0.0.1:")
            assert endpoint.headers == {"X-Team": "bench"}
            assert endpoint.token is not None and endpoint.token.env == "H3_DEMO_TOKEN"
            assert endpoint.api is not None and endpoint.api.value == "openai"
            timed = plan_endpoint(Settings().defaults, endpoint, args.timeout)
            assert timed.timeouts.total_s == 2.0 and timed.timeouts.read_s == 2.0
    finally:
        del os.environ["H3_DEMO_TOKEN"]
    for extra in (["--url", "http://127.0.0.1:1"], ["--endpoint", "x"]):
        args = build_parser().parse_args(["run", "--demo", *extra])
        with pytest.raises(UsageError, match="give one"), _endpoint_for(args, Settings()):
            pass
    result = ometer("run", "--demo", "--token-env", "H3_UNSET_VARIABLE", config=config)
    assert result.returncode == 2 and "H3_UNSET_VARIABLE" in result.stderr


def test_run_demo_timeout_ends_a_stalled_run(config: Path) -> None:
    # defect 1: `run --demo --model fault-stall ... --timeout 2` waited the 60 s read
    # timeout; the run now fails on the 2 s whole-request timeout
    result = ometer(
        "run", "--demo", "--model", "fault-stall", "--passes", "1", "--warmup", "0",
        "--timeout", "2", "--format", "json", config=config, timeout=50,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    (run,) = json.loads(result.stdout)["models"][0]["runs"]
    assert run["ok"] is False and run["error"] == "request exceeded 2 s"


def test_global_demo_flag_before_run_is_honoured(tmp_path: Path) -> None:
    # defect 2: `ometer-tui --demo run` used the first saved endpoint
    config = tmp_path / "config.toml"
    config.write_text('[[endpoints]]\nname = "gone"\nurl = "http://127.0.0.1:9"\n')
    result = ometer("--demo", "run", *ONE_QUICK_DEMO_RUN[2:], "--format", "json", config=config)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["simulated"] is True


def test_models_run_in_the_order_given(config: Path) -> None:
    # defect 17: models ran in server order
    result = ometer(
        "run", "--demo", "--model", "demo-think", "--model", "demo-fast", "--model",
        "demo-embed", "--passes", "1", "--warmup", "0", "--max-tokens", "4",
        "--format", "json", config=config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = [m["name"] for m in json.loads(result.stdout)["models"]]
    assert names == ["demo-think:7b", "demo-fast:1b", "demo-embed:335m"]
    started = [line.split()[1] for line in result.stderr.splitlines() if "run 1/1" in line]
    assert started == names


def test_a_terminal_gets_an_aligned_table(config: Path) -> None:
    # defect 17: a terminal got raw Markdown that wraps
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "OMETER_TUI_CONFIG": str(config)}
    proc = subprocess.run(
        [sys.executable, "-m", "ometer_tui", *ONE_QUICK_DEMO_RUN, "--quiet"],
        stdout=follower, stderr=subprocess.PIPE, text=True, env=env, timeout=60,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.returncode == 0, proc.stderr
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Model "))
    assert not any(line.startswith("|") for line in lines)  # not Markdown
    rule, row = lines[header + 1], lines[header + 2]
    assert set(rule) <= {"-", " "} and row.startswith("demo-fast:1b ")
    # the columns line up: every column of the rule ends where its header ends
    ends = [
        i + 1 for i, c in enumerate(rule) if c == "-" and (i + 1 == len(rule) or rule[i + 1] == " ")
    ]
    assert len(ends) >= 8
    assert all(lines[header][e - 1] != " " and row[e - 1] != " " for e in ends[1:])


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        (["run", "--demo", "--bogus"], "ometer-tui run: unrecognized arguments: --bogus"),
        (["run", "--passes", "0"], "ometer-tui run: argument --passes: must be 1 or more, got 0"),
        (["--bogus"], "ometer-tui: unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_say_what_is_wrong_first_and_briefly(
    config: Path, argv: list[str], first_line: str
) -> None:
    # defect 18: 16 lines of (top-level) usage came before the one useful line
    result = ometer(*argv, config=config)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == first_line
    assert len(lines) <= 2 and "usage:" not in result.stderr
    assert "--help" in lines[-1]


def test_the_demo_s_stalled_model_times_out_quickly_by_default(config: Path) -> None:
    # defect 3: fault-stall waited the 60 s read timeout on every run, so a first
    # select-all run of the demo took minutes; the demo's plans now time out after 5 s
    from ometer_tui.core.bench.plan_builder import SIMULATED_TIMEOUT_S

    result = ometer(
        "run", "--demo", "--model", "fault-stall", "--passes", "1", "--warmup", "0",
        "--format", "json", config=config, timeout=50,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    (run,) = json.loads(result.stdout)["models"][0]["runs"]
    assert run["error"] == f"request exceeded {SIMULATED_TIMEOUT_S:g} s"
