"""Ray and the workers choice in the dashboard: the run panel's Ray field reaches the plan
(checked by ``--ray``'s one rule, remembered), the bridge runs a plan with a Ray address
on the cluster (and fails at start, in one line, without Ray), and the automatic workers
choice (self-calibration) speaks on the results screen as headless prints it."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input, Static

from ometer_tui.core.bench import ray_shards
from ometer_tui.core.bench.calibrate import Calibration, usable_cores, write_cached
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui import bench_bridge
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.results_header import PhraseLine
from ometer_tui.tui.widgets.workers_strip import WorkersStrip
from tests.tui.conftest import AppFactory, Settle
from tests.tui.picker_helpers import FakeResults, open_picker
from tests.tui.test_model_picker import SIZE
from tests.tui.test_session import until


async def test_the_ray_field_reaches_the_plan_and_is_remembered(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert screen.query_one("#ray", Input).value == ""  # this machine
        await pilot.press("space")
        await pilot.press("b")
        await settle(pilot)
        app.pop_screen()
        await settle(pilot)
        screen.query_one("#ray", Input).value = " 10.0.0.5:6379 "
        await pilot.press("b")
        await settle(pilot)
    assert [plan.ray_address for plan in FakeResults.plans] == [None, "10.0.0.5:6379"]
    app = make_app(demo_config)  # a new app: the panel remembers
    async with app.run_test(size=SIZE) as pilot:
        again = await open_picker(app, pilot, settle)
        assert again.query_one("#ray", Input).value.strip() == "10.0.0.5:6379"


@pytest.mark.parametrize("value", ["somewhere", "host:port", ":6379"])
async def test_a_bad_ray_address_names_the_field(
    make_app: AppFactory, demo_config: Path, settle: Settle, value: str
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        screen.query_one("#ray", Input).value = value
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen  # not started
        errors = str(screen.query_one("#plan-errors", Static).render()).strip()
        assert errors == f"ray: expected 'auto' or the cluster head's host:port, got {value!r}"


def _demo_plan(url: str, **changes: Any) -> BenchmarkPlan:
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=url, api=ApiFlavour.OLLAMA, simulated=True),
        models=(ModelInfo(name="demo-fast:1b"),),
        prompts=("one",),
        passes=1,
        warmup=0,
        params=GenerationParams(max_tokens=4),
    )
    return replace(plan, **changes)


def test_the_bridge_runs_a_plan_with_a_ray_address_on_ray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[BenchmarkPlan] = []

    def on_ray(plan: BenchmarkPlan, on_event: Any, log: bool) -> Any:
        made.append(plan)
        return "the ray runner"

    monkeypatch.setattr(bench_bridge, "ray_runner_factory", on_ray)
    plan = _demo_plan("http://127.0.0.1:9", ray_address="auto", workers=2)
    assert bench_bridge.default_runner_factory(plan, lambda e: None, False) == "the ray runner"
    assert made == [plan]
    local = _demo_plan("http://127.0.0.1:9", workers=1)
    assert bench_bridge.default_runner_factory(local, lambda e: None, False) != "the ray runner"


class Host(App[None]):
    def __init__(self, plan: BenchmarkPlan) -> None:
        super().__init__()
        self.plan = plan
        #: every notification shown, kept (a toast expires after a few seconds, and a
        #: run on a loaded machine can outlast it)
        self.told: list[tuple[str, str]] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.told.append((message, str(kwargs.get("severity", "information"))))
        super().notify(message, *args, **kwargs)

    def on_mount(self) -> None:
        self.session = BenchmarkSession(self, self.plan)  # the default runner factory
        self.session.start()
        self.push_screen(ResultsScreen(self.session, show_clock=False))


def _told(app: Host) -> list[tuple[str, str]]:
    return app.told


async def test_without_ray_the_run_fails_at_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    why = "Ray is not installed (No module named 'ray'); install it with: pip install x"
    monkeypatch.setattr(ray_shards, "ray_available", lambda: why)
    app = Host(_demo_plan("http://127.0.0.1:9", ray_address="auto"))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: not app.session.running, "the end")
        await pilot.pause()
        assert app.session.error is not None and why in app.session.error
        assert why in app.screen.query_one("#results-status", PhraseLine).plain
        # the toast comes by message, after the session has ended (a loaded machine may
        # take more than one pause to deliver it)
        await until(pilot, lambda: any(why in m for m, _ in _told(app)), "the notification")


@pytest.mark.skipif(not 2 <= usable_cores() < 10, reason="a choice of 2-9 workers (cores)")
async def test_the_automatic_workers_choice_is_told_on_the_results_screen(
    demo_server: DemoServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "calibration.json"  # one worker holds 100 chunks/s here
    write_cached(
        Calibration(per_chunk_us=100.0, capacity_chunks_per_s=100.0, cores=usable_cores(),
                    python="test", measured_at=time.time(), took_s=0.0),
        cache,
    )  # fmt: skip
    monkeypatch.setenv("OMETER_TUI_CALIBRATION", str(cache))
    monkeypatch.setenv(bench_bridge.ENGINE_ENV, "thread")  # the shards on the bridge's loop
    # 20 streams x 50 tokens/s (no probe figure) = 1,000 chunks/s asked
    app = Host(_demo_plan(demo_server.url, concurrency=20, passes=20))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: not app.session.running, "the end")
        await pilot.pause()
        assert app.session.error is None
        told = _told(app)
        strip = app.screen.query_one(WorkersStrip).plain
    cores = usable_cores()
    chosen = [m for m, severity in told if m.startswith("chosen automatically")]
    assert chosen == [
        f"chosen automatically: {cores} workers: ~1,000 chunks/s asked, one worker holds "
        f"~100 within 3 ms of lag (capped at the cores: {cores})"
    ]
    assert (
        f"this asks ~1,000 chunks/s; this machine holds ~{cores * 100:,} within 3 ms of lag: "
        "numbers past that are the client's limit, not the server's",
        "warning",
    ) in told
    assert len(app.session.result.models["demo-fast:1b"].records) == 20  # all of them ran
    assert f"⚠ this asks ~1,000 chunks/s; this machine holds ~{cores * 100:,} within" in strip
