"""What start-up imports (README targets: the first drawn screen <= 0.8 s, ``ometer-tui run
--help`` <= 0.3 s).

``--help`` and the app's first frame must not load the HTTP stack, the engine, the demo
server or the telemetry poller: together they were ~0.4 s of imports (aiohttp's connector
alone ~70 ms, its ssl). Each check runs in a fresh interpreter and reads ``sys.modules``;
none times anything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: the API clients and their HTTP stack
HTTP: dict[str, str] = {
    "aiohttp": "the HTTP transport (~100 ms; its connector imports ssl)",
    "httpx": "the HTTP client (~60 ms)",
    "httpcore": "httpx's connection layer (imports trio when installed)",
    "ometer_tui.core.api.clients": "opening clients: brings every flavour's client",
    "ometer_tui.core.api._http": "the clients' HTTP layer (httpx)",
    "ometer_tui.core.api._transport": "the aiohttp transport",
}
#: never imported for ``--help`` nor before the app's first frame, and why
HEAVY: dict[str, str] = HTTP | {
    "uvloop": "the engine's event loop",
    "ometer_tui.core.bench.runner": "the engine: loaded when a benchmark starts",
    "ometer_tui.core.bench.shards": "the engine's workers",
    "ometer_tui.core.bench.process_runner": "the engine's process",
    "ometer_tui.core.bench.sweep": "sweeps: the engine's runner",
    "ometer_tui.core.bench.calibrate": "self-calibration: runs the engine",
    "ometer_tui.core.bench.plan": "a run's plan: built once endpoints and models are picked",
    "ometer_tui.core.bench.result": "a run's result (its events and records)",
    "ometer_tui.tui.bench_bridge": "the app's side of the engine",
    "ometer_tui.demo.server": "the demo endpoint runs in its own process",
    "ometer_tui.demo.process": "that process starts once the first frame is drawn (its "
    "start on the other core slowed the first screen ~0.2 s)",
    "ometer_tui.demo.llm_api": "the demo's LLM API (prometheus_client)",
    "prometheus_client": "the demo's and the telemetry's metrics format",
    "ometer_tui.core.telemetry.sampler": "the telemetry poller",
    "ometer_tui.core.telemetry.server_info": "asked after the first frame (httpx)",
    "ray": "the optional Ray cluster",
}
#: also never imported for ``--help``: only the dashboard needs them
UI: dict[str, str] = {
    "textual": "the dashboard's toolkit (~0.1-0.2 s)",
    "rich": "textual's renderer",
    "asyncio": "nothing runs for --help (~20 ms)",
    "ometer_tui.tui": "the dashboard",
}


def _modules(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _loaded(found: dict[str, Any], forbidden: dict[str, str]) -> dict[str, str]:
    modules = found["modules"]
    assert isinstance(modules, list)
    return {m: why for m, why in forbidden.items() if m in modules}


_HELP = r"""
import contextlib, io, json, sys
from ometer_tui.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "text": out.getvalue(), "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["run", "--help"],
        ["history", "--help"],
        ["compare", "--help"],
        ["calibrate", "--help"],
        ["demo-server", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_neither_the_http_stack_nor_the_engine_nor_the_ui(argv: list[str]) -> None:
    found = _modules(_HELP, *argv)
    assert found["code"] == 0
    assert "ometer-tui" in str(found["text"])  # the help (or version) was printed
    assert _loaded(found, HEAVY | UI) == {}


_FIRST_FRAME = r"""
import json, sys
from pathlib import Path
from ometer_tui.cli import build_parser
args = build_parser().parse_args(sys.argv[1:])  # as cli.main does before the app
from ometer_tui.tui.app import OmeterApp

seen = {}

def on_ready(self) -> None:  # Textual: the first frame has been displayed
    seen.update(screen=type(self.screen).__name__, modules=sorted(sys.modules))
    self.exit()

OmeterApp.on_ready = on_ready  # (a subclass here would have no file for its CSS path)
app = OmeterApp(config_path=Path(args.config), demo=args.demo)
app.run(headless=True, size=(120, 36))
print(json.dumps(seen))
"""


def _refused_url() -> str:
    """A loopback URL nothing listens on (a check after the first frame is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("demo", [False, True], ids=["saved-endpoint", "demo"])
def test_the_first_frame_imports_neither_the_http_stack_nor_the_engine(
    tmp_path: Path, demo: bool
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[[endpoints]]\nname = "stamp"\nurl = "{_refused_url()}"\napi = "ollama"\n')
    env = {**os.environ, "HOME": str(tmp_path)}
    env.update(
        {f"XDG_{kind}_HOME": str(tmp_path / kind.lower()) for kind in ("CONFIG", "DATA", "STATE")}
    )
    args = ["--config", str(config), *(["--demo"] if demo else [])]
    found = _modules(_FIRST_FRAME, *args, env=env)
    assert found["screen"] == "EndpointsScreen"
    assert "textual" in found["modules"]
    assert _loaded(found, HEAVY) == {}


def test_importing_the_api_package_loads_no_client() -> None:
    """``core.api`` names load on first use: its light modules (the parsers' choices,
    the plan's types) come without httpx and aiohttp."""
    code = r"""
import json, sys
import ometer_tui.core.api
from ometer_tui.core.api.base import ErrorKind
from ometer_tui.core.api.custom_profile import BUILTIN_PROFILES
from ometer_tui.core.api.guard import TRUNCATE_MODES
from ometer_tui.core.bench.plan import BenchmarkPlan
before = sorted(sys.modules)
from ometer_tui.core.api import ClientError, open_client
print(json.dumps({"modules": before, "after": sorted(sys.modules),
                  "same": ClientError is sys.modules["ometer_tui.core.api.base"].ClientError}))
"""
    found = _modules(code)
    assert _loaded(found, HTTP) == {}
    assert {"ometer_tui.core.api.clients", "aiohttp", "httpx"} <= set(found["after"])
    assert found["same"] is True
