"""``--model`` with models that differ only in case, over loopback, as a user runs it.

The server here is a tiny OpenAI-compatible one of this test's own (it lists
``Qwen/Qwen2.5-7B-Instruct`` and then ``qwen/qwen2.5-7b-instruct``) and notes which model
every generation request names, so the test sees what was really benchmarked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_headless import ometer

TWINS = ("Qwen/Qwen2.5-7B-Instruct", "qwen/qwen2.5-7b-instruct")


class TwinServer(ThreadingHTTPServer):
    daemon_threads = True
    asked: list[str]


class Handler(BaseHTTPRequestHandler):
    server: TwinServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": name, "object": "model", "owned_by": "test"} for name in TWINS]
            self._send(json.dumps({"object": "list", "data": data}).encode(), "application/json")
        else:
            self._send(b"{}", "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        model = str(request.get("model"))
        self.server.asked.append(model)
        events = [
            {"choices": [{"index": 0, "delta": {"content": f"{model} "}}]},
            {"choices": [{"index": 0, "delta": {"content": "ok"}}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        ]
        body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        self._send(body + b"data: [DONE]\n\n", "text/event-stream")


@pytest.fixture
def twin_server() -> Iterator[TwinServer]:
    server = TwinServer(("127.0.0.1", 0), Handler)
    server.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_model(server: TwinServer, model: str, tmp_path: Path) -> Any:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return ometer(
        "run", "--url", url, "--api", "openai", "--model", model, "--passes", "1",
        "--warmup", "0", "--max-tokens", "2", "--format", "json",
        config=tmp_path / "config.toml",
    )  # fmt: skip


@pytest.mark.parametrize("model", TWINS)
def test_an_exact_name_benchmarks_exactly_that_model(
    twin_server: TwinServer, tmp_path: Path, model: str
) -> None:
    result = run_model(twin_server, model, tmp_path)
    assert result.returncode == 0, result.stderr
    assert twin_server.asked == [model]  # the twin was never sent a request
    (entry,) = json.loads(result.stdout)["models"]
    assert entry["name"] == model


def test_a_name_that_is_ambiguous_but_for_case_is_a_usage_error_naming_both(
    twin_server: TwinServer, tmp_path: Path
) -> None:
    result = run_model(twin_server, "QWEN/qwen2.5-7B-instruct", tmp_path)
    assert result.returncode == 2, result.stderr
    assert all(repr(name) in result.stderr for name in TWINS), result.stderr
    assert "differ only in case" in result.stderr
    assert twin_server.asked == []
