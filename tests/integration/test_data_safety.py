"""Data safety: a kill mid-save leaves the old file or the new one, never a truncated one
(settings and exports through their real functions); a cancel keeps every finished run
and writes a partial result marked cancelled (headless SIGINT, TUI Escape)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.settings import load_settings
from ometer_tui.demo.server import DemoServerThread

REPO = Path(__file__).resolve().parents[2]

# Saves two versions alternately, as fast as it can, until killed. Version A and B differ
# in size, so a file cut short (or a mix) cannot pass for either.
_CHILD = r"""
import sys
from datetime import UTC, datetime
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.export import ExportFormat, write_export
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.settings import Settings, save_settings

what, target = sys.argv[2], Path(sys.argv[3])
sizes = (1500, 2500)

def settings(n):
    return Settings(endpoints=[Endpoint(name=f"e{i}", url=f"http://127.0.0.1:{1000 + i}")
                               for i in range(n)])

def result(n):
    endpoint = Endpoint(name="x", url="http://127.0.0.1:1")
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name="m"),))
    records = [RunRecord(model="m", pass_index=i + 1, prompt_index=0, warmup=False, ok=True,
                         ttft_s=0.01 * i, e2e_s=0.02 * i, output_tokens=i)
               for i in range(n)]
    return BenchmarkResult(plan=plan, started_at=datetime.now(UTC),
                           models={"m": ModelResult(info=ModelInfo(name="m"), records=records)})

versions = [settings(n) for n in sizes] if what == "settings" else [result(n) for n in sizes]

def save(i):
    if what == "settings":
        save_settings(versions[i % 2], target)
    else:
        write_export(versions[i % 2], ExportFormat(what), target)

if not target.exists():
    save(0)
print("ready", flush=True)  # the file exists: every kill from now on lands on a rewrite
i = 1
while True:
    save(i)
    i += 1
"""


def _count(what: str, path: Path) -> int:
    """How many endpoints / runs the file holds; raises if it is not whole."""
    if what == "settings":
        return len(load_settings(path).endpoints)
    text = path.read_text(encoding="utf-8")
    if what == "json":
        return len(json.loads(text)["models"][0]["runs"])
    lines = text.splitlines()
    assert lines[-1].count(",") == lines[0].count(","), "a cut CSV line"
    return len(lines) - 1


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("what", ["settings", "json", "csv"])
def test_sigkill_mid_save_leaves_old_or_new(tmp_path: Path, what: str) -> None:
    target = tmp_path / ("config.toml" if what == "settings" else f"result.{what}")
    rng = random.Random(4)
    kills = 0
    deadline = time.monotonic() + 10
    while kills < 3 and time.monotonic() < deadline:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(REPO), what, str(target)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        kills += 1
        assert _count(what, target) in (1500, 2500)
    assert kills >= 2 and target.exists()
    if what == "settings":  # the backup kept before each rewrite is whole too
        for backup in tmp_path.glob("config.toml.*"):
            if backup.suffix != ".tmp" and not backup.name.endswith(".tmp"):
                assert _count(what, backup) in (1500, 2500), backup


def test_headless_sigint_keeps_finished_runs_and_exits_130(
    tmp_path: Path, demo_server: DemoServerThread
) -> None:
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ometer_tui", "run", "--url", demo_server.url,
            "--api", "openai", "--model", "demo-slow:70b", "--passes", "20",
            "--warmup", "0", "--output", str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "none.toml")},
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:  # wait until one run has finished
        if "run 1/20" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)  # what ctrl+c sends
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 130, rest
    assert "Traceback" not in rest and "cancelled" in rest
    data = json.loads(out.read_text())
    assert data["cancelled"] is True
    runs = data["models"][0]["runs"]
    assert 1 <= len(runs) < 20 and all(r["ok"] for r in runs)


async def test_tui_escape_keeps_finished_runs_and_exports_a_cancelled_result(
    demo: DemoServerThread, tmp_path: Path
) -> None:
    from textual.app import App
    from textual.widgets import Input

    from ometer_tui.tui.screens.confirm import ConfirmScreen
    from ometer_tui.tui.screens.export_menu import ExportMenu
    from ometer_tui.tui.screens.results import ResultsScreen
    from ometer_tui.tui.session import BenchmarkSession

    endpoint = Endpoint(name="demo", url=demo.url, api=ApiFlavour.OLLAMA, simulated=True)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=(ModelInfo(name="demo-fast:1b"), ModelInfo(name="demo-slow:70b")),
        passes=6,
        warmup=0,
        parallel_models=2,
        params=GenerationParams(max_tokens=24),
        retry=RetryPolicy(max_retries=0),
    )

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ResultsScreen(BenchmarkSession.started(self, plan)))

    app = Host()
    async with app.run_test(size=(120, 36)) as pilot:

        async def until(cond: object, what: str) -> None:
            deadline = time.monotonic() + 30
            while not cond():  # type: ignore[operator]
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                await pilot.pause(0.05)

        await until(lambda: isinstance(app.screen, ResultsScreen), "results")
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await until(lambda: len(screen.result.models["demo-slow:70b"].records) >= 1, "a run")
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ConfirmScreen), "confirm")
        await pilot.press("y")
        await until(lambda: not screen.benchmark_running, "the cancel")
        await pilot.pause()
        slow = screen.result.models["demo-slow:70b"]
        assert screen.result.cancelled and slow.phase is ModelPhase.CANCELLED
        kept = len(slow.records)
        assert 1 <= kept < 6 and all(r.ok for r in slow.records)
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, ExportMenu), "export menu")
        path_input = app.screen.query_one("#export-path", Input)
        path_input.value = str(tmp_path / "cancelled.json")
        path_input.focus()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ResultsScreen), "written")
    data = json.loads((tmp_path / "cancelled.json").read_text())
    assert data["cancelled"] is True
    by_name = {m["name"]: m for m in data["models"]}
    assert len(by_name["demo-slow:70b"]["runs"]) == kept
    assert len(by_name["demo-fast:1b"]["runs"]) >= 1


def test_headless_sigint_before_the_first_run_exits_130_quietly(tmp_path: Path) -> None:
    """ctrl+c while the models are still being listed (a server that never answers)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue: further connects hang in SYN-SENT
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "ometer_tui", "run", "--url", f"http://127.0.0.1:{port}",
                "--api", "ollama", "--model", "m",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "none.toml")},
        )  # fmt: skip
        time.sleep(1.0)  # imported and waiting on the connect
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
