"""``ometer-tui run`` with several endpoints, as a user runs it: a real subprocess,
real loopback HTTP to the demo (its native API and its OpenAI /v1 API on one port)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_headless import ometer

QUICK = ("--warmup", "0", "--max-tokens", "4")


@pytest.fixture
def two_apis(tmp_path: Path, demo: DemoServerThread) -> Path:
    """Settings with the demo saved twice: its native API and its /v1 API, each with
    its own defaults (passes)."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[endpoints]]\nname = "native"\nurl = "{demo.url}"\napi = "ollama"\n'
        "[endpoints.defaults]\npasses = 1\n"
        f'[[endpoints]]\nname = "v1"\nurl = "{demo.url}"\napi = "openai"\n'
        "[endpoints.defaults]\npasses = 2\n",
        encoding="utf-8",
    )
    return config


def test_two_saved_endpoints_give_rows_keyed_by_endpoint(
    two_apis: Path, demo: DemoServerThread
) -> None:
    result = ometer(
        "run", "--endpoint", "native", "--endpoint", "v1", "--model", "demo-fast:1b",
        *QUICK, "--format", "json", "--telemetry", "off", config=two_apis,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2
    assert [(m["endpoint"], m["name"], m["summary"]["ok"]) for m in doc["models"]] == [
        ("native", "demo-fast:1b", 1),
        ("v1", "demo-fast:1b", 2),  # each endpoint keeps its own defaults
    ]
    assert [(e["name"], e["api"]) for e in doc["endpoints"]] == [
        ("native", "ollama"),
        ("v1", "openai"),
    ]
    assert doc["plan"]["endpoints_parallel"] is False
    assert "2 endpoints, one after the other:" in result.stderr
    assert "demo-fast:1b @ v1 run 2/2" in result.stderr
    by_path = demo.stats().by_path
    assert by_path["/api/chat"] == 1 and by_path["/v1/chat/completions"] == 2


def test_one_url_through_both_apis_with_an_endpoint_column(demo: DemoServerThread) -> None:
    result = ometer(
        "run", "--url", demo.url, "--url", demo.url, "--api", "ollama", "--api", "openai",
        "--model", "demo-fast", "--passes", "2", *QUICK, "--format", "table",
        "--endpoints-parallel", "--telemetry", "off",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "ok/err" in line)
    assert header.split()[:2] == ["Endpoint", "Model"]
    assert any(line.startswith(f"{demo.url} [ollama]") and "2/0" in line for line in lines)
    assert any(line.startswith(f"{demo.url} [openai]") and "2/0" in line for line in lines)
    assert "Endpoints (at the same time):" in result.stdout


def test_demo_through_both_apis(tmp_path: Path) -> None:
    """The README's example: the demo's native API against its /v1 API."""
    out = tmp_path / "both.json"
    result = ometer(
        "run", "--demo", "--api", "ollama", "--api", "openai", "--model", "demo-fast:1b",
        "--passes", "2", *QUICK, "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["simulated"] is True
    assert [(m["endpoint"], m["summary"]["ok"]) for m in doc["models"]] == [
        ("demo ollama (simulated)", 2),
        ("demo openai (simulated)", 2),
    ]
    assert {e["url"] for e in doc["endpoints"]} == {doc["endpoint"]["url"]}  # one port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--endpoint", "native", "--endpoint", "v1", "--model", "no-such-model"),
            "--model: no chosen endpoint serves 'no-such-model' (native: ",
        ),
        (
            (
                "--endpoint",
                "native",
                "--endpoint",
                "v1",
                "--api",
                "ollama",
                "--api",
                "openai",
                "--api",
                "ollama",
            ),
            "--api: given 3 times for 2 endpoint(s)",
        ),
        (("--endpoint", "native", "--endpoint", "nowhere"), "no saved endpoint named 'nowhere'"),
        (("--endpoint", "native", "--endpoint", "native"), "'native' is given twice"),
        (("--demo", "--endpoint", "native"), "--demo and --endpoint: give one, not both"),
    ],
)
def test_bad_endpoint_input_exits_2_with_one_line(
    two_apis: Path, args: tuple[str, ...], message: str
) -> None:
    result = ometer("run", *args, *QUICK, "--format", "json", config=two_apis)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    if "no-such-model" in message:
        assert "; v1: " in result.stderr


def test_an_unreachable_endpoint_among_several_exits_3(two_apis: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ometer(
        "run", "--endpoint", "native", "--url", f"http://127.0.0.1:{port}",
        "--model", "demo-fast:1b", *QUICK, "--format", "json", "--timeout", "3",
        config=two_apis,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert f"http://127.0.0.1:{port}" in result.stderr


def test_a_model_is_taken_on_every_endpoint_that_serves_it() -> None:
    from ometer_tui.core.models import Endpoint, ModelInfo
    from ometer_tui.endpoint_args import EndpointChoiceError, select_per_endpoint

    local, cloud = Endpoint(name="local", url="http://a"), Endpoint(name="cloud", url="http://b")
    served = [[ModelInfo(name="llama3:8b"), ModelInfo(name="qwen:7b")], [ModelInfo(name="gpt")]]
    picked = select_per_endpoint(["llama3", "gpt"], [local, cloud], served)
    assert [[m.name for m in models] for models in picked] == [["llama3:8b"], ["gpt"]]
    with pytest.raises(EndpointChoiceError) as caught:
        select_per_endpoint(["mistral"], [local, cloud], served)
    assert str(caught.value) == (
        "--model: no chosen endpoint serves 'mistral' (local: llama3:8b, qwen:7b; cloud: gpt)"
    )
