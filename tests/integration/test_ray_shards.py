"""Shards as Ray actors on a local Ray cluster the tests start on loopback: a head and a
second node process (one CPU each, small object stores), stopped after.

Skipped, with the reason, where Ray cannot be imported (``pip install 'ometer-tui[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent, RunFinished, WorkerLoad
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.ray_shards import (
    Placement,
    RayShardRunner,
    RayWorkerLost,
    ray_available,
    ray_shard_factory,
)
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.bench.shards import MergedRunner
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.secrets import TokenRef
from ometer_tui.demo.server import DemoServerThread

_WHY_NOT = ray_available()
pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or ""),
]

FAST = ModelInfo(name="demo-fast:1b")
MEDIUM = ModelInfo(name="demo-medium:8b")
#: what one Ray process may keep in its object store (the machine is shared)
OBJECT_STORE_BYTES = 80 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ray_node(args: list[str], temp_dir: Path) -> subprocess.Popen[bytes]:
    """``ray start ... --block`` in a session of its own (stopped by its process group)."""
    cmd = [  # Ray's CLI on this Python (its workers then run this Python too)
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        "1",
        "--object-store-memory",
        str(OBJECT_STORE_BYTES),
        "--disable-usage-stats",
        "--node-manager-port",
        str(_free_port()),
        "--object-manager-port",
        str(_free_port()),
        "--dashboard-agent-listen-port",
        str(_free_port()),
        "--dashboard-agent-grpc-port",
        str(_free_port()),
        "--runtime-env-agent-port",
        str(_free_port()),
        "--metrics-export-port",
        str(_free_port()),
        *args,
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    log = (temp_dir / f"ray-start-{len(list(temp_dir.glob('ray-start-*')))}.log").open("wb")
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's process group (``ray start --block`` stops its processes), then
    SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _log_tail(temp_dir: Path) -> str:
    return " | ".join(
        line
        for log in sorted(temp_dir.glob("ray-start-*.log"))
        for line in log.read_text(errors="replace").splitlines()[-3:]
    )


def _alive_nodes(address: str) -> int:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace="ometer-tui", log_to_driver=False)
    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes  # untyped in Ray
    return len([n for n in nodes() if n.get("Alive")])


@pytest.fixture(scope="module")
def ray_nodes() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A two-node Ray cluster on loopback: its address, and its nodes' ``ray start``
    processes (head first). Stopped (and the driver disconnected) after the module."""
    import ray

    temp_dir = Path(tempfile.mkdtemp(prefix="ometer-ray-", dir="/tmp"))  # short socket paths
    port = _free_port()
    address = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            _ray_node(
                [
                    "--head",
                    "--port",
                    str(port),
                    "--include-dashboard=false",
                    "--temp-dir",
                    str(temp_dir),
                ],
                temp_dir,
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the head first: the second node joins it
            if procs[0].poll() is not None:
                pytest.fail(f"ray head exited: {_log_tail(temp_dir)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.5)
        procs.append(_ray_node(["--address", address], temp_dir))
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if _alive_nodes(address) >= 2:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"no 2-node Ray cluster after 60 s: {_log_tail(temp_dir)}")
        yield address, procs
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def ray_cluster(ray_nodes: tuple[str, list[subprocess.Popen[bytes]]]) -> str:
    """The address of the module's two-node cluster."""
    return ray_nodes[0]


def _plan(demo: DemoServerThread, **changes: object) -> BenchmarkPlan:
    endpoint = Endpoint(name="demo", url=demo.url, api=ApiFlavour.OLLAMA, simulated=True)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=(FAST, MEDIUM),
        prompts=("one", "two"),
        passes=3,
        warmup=1,
        concurrency=2,
        params=GenerationParams(max_tokens=16),
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


Shape = tuple[int, int, int, tuple[tuple[int, int], ...]]


def _shape(result: BenchmarkResult) -> dict[str, Shape]:
    """Per model: measured runs, failed runs, output tokens, the (pass, prompt) runs."""
    shape: dict[str, Shape] = {}
    for key, mr in result.models.items():
        runs = [r for r in mr.records if not r.warmup]
        shape[key] = (
            len(runs),
            sum(1 for r in runs if r.error is not None),
            sum(r.output_tokens or 0 for r in runs),
            tuple(sorted((r.pass_index, r.prompt_index) for r in runs)),
        )
    return shape


async def test_one_actor_gives_what_one_local_engine_gives(
    ray_cluster: str, demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole plan in one Ray actor: the same runs, tokens, prompts and requests to
    the endpoint as the engine in this process; events arrive in batches. The token (an
    environment variable set only here, on the driver) reaches the endpoint."""
    monkeypatch.setenv("OMETER_RAY_TEST_TOKEN", "sk-ray-canary-5e1d")
    plan = _plan(demo)
    plan = replace(
        plan, endpoint=replace(plan.endpoint, token=TokenRef(env="OMETER_RAY_TEST_TOKEN"))
    )
    local = await BenchmarkRunner(plan, lambda e: None).run()
    local_requests = demo.stats().by_path.get("/api/chat", 0)
    demo.reset()

    events: list[BenchmarkEvent] = []
    placed: list[Placement] = []
    runner = RayShardRunner(plan, events.append, address=ray_cluster, on_placed=placed.append)
    result = await runner.run()
    assert not result.cancelled and not runner.cancel_requested
    assert _shape(result) == _shape(local)
    assert all(mr.summary is not None for mr in result.models.values())
    assert demo.stats().by_path.get("/api/chat", 0) == local_requests == 2 * (6 + 1)
    runs = [e for e in events if isinstance(e, RunFinished)]
    assert len(runs) == 2 * (6 + 1)
    assert runner.result is result
    assert demo.stats().last_headers.get("authorization") == "Bearer sk-ray-canary-5e1d"
    assert result.plan is plan  # the driver's plan, its token still a reference
    # where it ran, and its clock against this process's (same machine: one clock)
    (where,) = placed
    assert where.node_id and where.host == socket.gethostname()
    assert where.clock.round_trip_ns > 0
    assert abs(where.clock.offset_ns) <= where.clock.uncertainty_ns + 1_000_000
    print(where.describe())


async def test_two_ray_workers_give_what_one_local_engine_gives(
    ray_cluster: str, demo: DemoServerThread
) -> None:
    """The plan split across 2 Ray workers and merged (MergedRunner): per model the same
    measured runs, (pass, prompt) pairs, tokens and failures as one local engine; each
    model's two shards ran on the two nodes; every record lies on the driver's time line
    (measured from the merged run's start, within the run's own window)."""
    plan = _plan(demo)
    local = await BenchmarkRunner(plan, lambda e: None).run()
    local_sent = demo.stats().by_path.get("/api/chat", 0)
    assert local_sent == sum(len(mr.records) for mr in local.models.values())
    demo.reset()

    placed: list[Placement] = []
    before = time.perf_counter_ns()
    merged = MergedRunner(
        plan,
        lambda e: None,
        workers=2,
        shard_factory=ray_shard_factory(ray_cluster, on_placed=placed.append),
    )
    result = await merged.run()
    window_s = (time.perf_counter_ns() - before) / 1e9
    assert not result.cancelled
    assert _shape(result) == _shape(local)
    assert all(mr.summary is not None for mr in result.models.values())
    # every request the records name was sent, and nothing else (warm-up: one per shard)
    assert demo.stats().by_path.get("/api/chat", 0) == sum(
        len(mr.records) for mr in result.models.values()
    )
    assert len(placed) == 4  # a set of 2 workers per model (parallel_models 1)
    for first, second in (placed[0:2], placed[2:4]):
        assert {first.worker, second.worker} == {0, 1}
        assert first.node_id != second.node_id
    for mr in result.models.values():
        for r in mr.records:
            assert 0.0 < r.started_at_s <= r.finished_at_s < window_s


async def test_cancel_stops_the_actor_and_keeps_finished_runs(
    ray_cluster: str, demo: DemoServerThread
) -> None:
    """Cancel from another thread: the run ends cancelled within a few seconds, with
    the runs finished so far, and the actor reports its load (WorkerLoad) meanwhile."""
    plan = _plan(demo, models=(MEDIUM,), prompts=("one",), passes=200, concurrency=1)
    events: list[BenchmarkEvent] = []
    going = asyncio.Event()  # a measured run finished and a load report came

    def sink(event: BenchmarkEvent) -> None:  # on this loop
        events.append(event)
        measured = any(isinstance(e, RunFinished) and not e.record.warmup for e in events)
        if measured and any(isinstance(e, WorkerLoad) for e in events):
            going.set()

    runner = RayShardRunner(plan, sink, address=ray_cluster)
    task = asyncio.ensure_future(runner.run())
    await asyncio.wait_for(going.wait(), 60)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, runner.cancel)  # from a thread
    result = await asyncio.wait_for(task, 30)
    assert result.cancelled and runner.cancel_requested
    done = [r for r in result.models[MEDIUM.name].records if not r.warmup]
    assert 0 < len(done) < 200
    loads = [e for e in events if isinstance(e, WorkerLoad)]
    load = loads[0]
    assert load.node == socket.gethostname() and load.workers == 1 and load.worker == 0
    assert load.pid != os.getpid()  # measured in the actor's process
    assert load.interval_s > 0.5 and load.cpu_percent >= 0.0
    assert any(e.chunks_per_s > 0 for e in loads)  # the actor's engine's chunks counted


async def test_a_killed_actor_is_an_error_naming_the_worker(
    ray_cluster: str, demo: DemoServerThread
) -> None:
    """``ray.kill`` of the actor mid-run: the run fails with RayWorkerLost naming the
    worker, promptly, not a hang."""
    import ray

    plan = _plan(demo, models=(MEDIUM,), prompts=("one",), passes=200, concurrency=1)
    running = asyncio.Event()

    def sink(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            running.set()

    runner = RayShardRunner(plan, sink, worker=1, workers=2, address=ray_cluster)
    task = asyncio.ensure_future(runner.run())
    await asyncio.wait_for(running.wait(), 60)
    actor = runner._actor
    assert actor is not None
    ray.kill(actor, no_restart=True)
    with pytest.raises(RayWorkerLost, match="Ray worker 2 of 2") as lost:
        await asyncio.wait_for(task, 30)
    assert lost.value.worker == 1


def test_headless_run_with_ray_gives_the_local_runs(ray_cluster: str, tmp_path: Path) -> None:
    """``ometer-tui run --demo --ray ADDRESS``: the same runs and tokens as without
    ``--ray``, and stderr says where each worker ran and its clock offset."""
    args = [sys.executable, "-m", "ometer_tui", "run", "--demo", "--model", "demo-fast:1b"]
    args += ["--passes", "3", "--warmup", "1", "--max-tokens", "8", "--concurrency", "2"]
    args += ["--format", "json"]
    env = {**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "config.toml")}

    def runs(extra: list[str]) -> tuple[list[tuple[bool, int]], str]:
        done = subprocess.run([*args, *extra], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        (model,) = json.loads(done.stdout)["models"]
        measured = [r for r in model["runs"] if not r["warmup"]]
        return sorted((r["pass"], r["output_tokens"]) for r in measured), done.stderr

    local, _ = runs([])
    on_ray, err = runs(["--ray", ray_cluster])  # one worker per node: 2
    assert on_ray == local == [(1, 8), (2, 8), (3, 8)]
    assert f"Ray cluster at {ray_cluster}: 2 node(s), 2 worker(s)" in err
    assert "ray worker 1 of 2: node " in err and "ray worker 2 of 2: node " in err
    assert "clock offset" in err


def test_headless_ctrl_c_cancels_the_actor_and_writes_the_runs(
    ray_cluster: str, tmp_path: Path
) -> None:
    """SIGINT to ``run --ray``: the actor is cancelled, the runs finished are written,
    marked cancelled, exit code 130."""
    cmd = [sys.executable, "-m", "ometer_tui", "run", "--demo", "--model", "demo-medium:8b"]
    cmd += ["--passes", "200", "--warmup", "0", "--max-tokens", "16", "--format", "json"]
    env = {**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "config.toml")}
    proc = subprocess.Popen(
        [*cmd, "--ray", ray_cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:  # up to the first finished run
            seen.append(line)
            if "run 1/200" in line:
                break
        assert any("run 1/200" in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + err
    data = json.loads(out)
    assert data["cancelled"] is True
    (model,) = data["models"]
    assert 1 <= len(model["runs"]) < 200


async def test_an_unreachable_endpoint_is_raised_as_one_engine_raises_it(
    ray_cluster: str,
) -> None:
    """The engine's own failure in the actor crosses back as itself (exit code 3
    headless), not as a lost worker."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = Endpoint(name="nowhere", url=f"http://127.0.0.1:{port}", api=ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(endpoint=endpoint, models=(FAST,), passes=1, warmup=0)
    runner = RayShardRunner(plan, lambda e: None, address=ray_cluster)
    with pytest.raises(EndpointUnreachable):
        await runner.run()


def test_headless_sweep_runs_each_step_on_ray(ray_cluster: str, tmp_path: Path) -> None:
    """``run --sweep concurrency=1,2 --ray``: every step's requests are made by Ray
    workers (the second step split over two), the step table as without Ray."""
    cmd = [sys.executable, "-m", "ometer_tui", "run", "--demo", "--model", "demo-fast:1b"]
    cmd += ["--warmup", "0", "--max-tokens", "4", "--sweep", "concurrency=1,2"]
    cmd += ["--requests", "6", "--format", "json", "--ray", ray_cluster]
    env = {**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "config.toml")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [s["load"]["value"] for s in doc["steps"]] == [1, 2]
    assert "ray worker 1 of 1: node " in done.stderr  # step 0: one stream, one worker
    assert "ray worker 2 of 2: node " in done.stderr  # step 1: split over two


async def test_the_dashboard_runs_a_plan_on_the_cluster(
    ray_cluster: str, demo: DemoServerThread
) -> None:
    """The run panel's Ray field set (``plan.ray_address``), Workers blank: the results
    screen's session runs one worker per node as Ray actors (the bridge's default
    runner factory), the same runs as one local engine; the cluster's layout and each
    actor's node are told on the screen, and the workers strip says "(ray)"."""
    from textual.app import App

    from ometer_tui.tui.screens.results import ResultsScreen
    from ometer_tui.tui.session import BenchmarkSession
    from ometer_tui.tui.widgets.workers_strip import WorkersStrip

    plan = _plan(demo)
    local = await BenchmarkRunner(plan, lambda e: None).run()
    demo.reset()

    told: list[str] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.session = BenchmarkSession(self, replace(plan, ray_address=ray_cluster))
            self.session.start()
            self.push_screen(ResultsScreen(self.session, show_clock=False))

        def notify(self, message: str, **kwargs: Any) -> None:
            # every notification, also those that timed out before the run ended (a
            # slow run outlived the first ones in App._notifications)
            told.append(message)
            super().notify(message, **kwargs)

    app = Host()
    async with app.run_test(size=(120, 36)) as pilot:
        deadline = time.monotonic() + 90
        while app.session.running:
            assert time.monotonic() < deadline, "the run on Ray did not end"
            await pilot.pause(0.1)
        await pilot.pause()
        assert app.session.error is None
        assert _shape(app.session.result) == _shape(local)
        strip = app.screen.query_one(WorkersStrip).plain
    assert f"Ray cluster at {ray_cluster}: 2 node(s), 2 worker(s)" in told
    assert sum(1 for m in told if m.startswith("ray worker ")) == 2 * len(plan.models)
    assert strip.startswith("Client 2 workers on ") and "(ray)" in strip.splitlines()[0]


async def test_last_a_lost_node_is_an_error_naming_its_worker(
    ray_nodes: tuple[str, list[subprocess.Popen[bytes]]], demo: DemoServerThread
) -> None:
    """The second node killed (SIGKILL to its processes) while its actor runs: that
    worker's run fails with RayWorkerLost naming it within seconds; the other worker,
    on the head, is still there to cancel. Last in the module: the cluster loses a node."""
    import ray

    address, procs = ray_nodes
    plan = _plan(demo, models=(MEDIUM,), prompts=("one",), passes=200, concurrency=1)
    placed: list[Placement] = []
    both = asyncio.Event()

    def on_placed(where: Placement) -> None:
        placed.append(where)
        if len(placed) == 2:
            both.set()

    runners = [
        RayShardRunner(
            plan, lambda e: None, worker=i, workers=2, address=address, on_placed=on_placed
        )
        for i in range(2)
    ]
    tasks = {i: asyncio.ensure_future(r.run()) for i, r in enumerate(runners)}
    await asyncio.wait_for(both.wait(), 60)
    head_node = ray.get_runtime_context().get_node_id()  # the driver joined the head
    (remote,) = [p for p in placed if p.node_id != head_node]
    (local,) = [p for p in placed if p.node_id == head_node]
    os.killpg(procs[1].pid, signal.SIGKILL)
    with pytest.raises(RayWorkerLost, match=f"Ray worker {remote.worker + 1} of 2") as lost:
        await asyncio.wait_for(tasks[remote.worker], 60)
    assert lost.value.worker == remote.worker
    runners[local.worker].cancel()
    result = await asyncio.wait_for(tasks[local.worker], 60)
    assert result.cancelled
