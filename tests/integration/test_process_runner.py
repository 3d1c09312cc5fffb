"""The engine in its own process (``ProcessRunner``) against the demo endpoint over real
HTTP on loopback: events, the result, cancel, failures, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ometer_tui.core.bench import process_runner
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelPhase,
    RunFinished,
    WorkerLoad,
)
from ometer_tui.core.bench.plan import BenchmarkPlan, combine_plans
from ometer_tui.core.bench.process_runner import EngineProcessError, ProcessRunner, _Batcher
from ometer_tui.core.bench.result import row_key
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.load_counters import COUNTERS
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    TimeoutPolicy,
)
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.server import DemoServerThread
from tests.support.engines import Unreadable, exiting_engine, unpicklable_engine

ROOT = Path(__file__).resolve().parents[2]


def plan_for(url: str, model: str = "demo-fast:1b", **changes: object) -> BenchmarkPlan:
    endpoint = Endpoint(name="demo", url=url, api=ApiFlavour.OPENAI, simulated=True)
    fields: dict[str, object] = {
        "passes": 4, "warmup": 1, "concurrency": 2, "params": GenerationParams(max_tokens=12)
    }  # fmt: skip
    fields.update(changes)
    return BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name=model),), **fields)  # type: ignore[arg-type]


def gone(pid: int) -> bool:
    """No such process, or only its zombie (nobody reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


@pytest.fixture(autouse=True, scope="module")
def _no_engine_left() -> Iterator[None]:
    """The tests let their idle engines go at the end (they exit on EOF)."""
    yield
    pids = process_runner.idle_engine_pids()
    process_runner.shut_down_idle()
    for pid in pids:
        assert wait_gone(pid)


async def test_events_and_result_come_from_a_child_process(demo: DemoServerThread) -> None:
    plan = plan_for(demo.url, passes=6)
    events: list[BenchmarkEvent] = []
    runner = ProcessRunner(plan, events.append)
    result = await runner.run()
    assert runner.pid is not None and runner.pid != os.getpid()
    kinds = [type(e) for e in events if not isinstance(e, WorkerLoad)]
    assert kinds[0] is BenchmarkStarted and kinds[-1] is BenchmarkFinished
    records = [e.record for e in events if isinstance(e, RunFinished)]
    entry = result.models["demo-fast:1b"]
    assert len(records) == 7  # 6 measured and the warm-up
    # the result holds the very records the events carried, in order, and our plan
    assert all(a is b for a, b in zip(entry.records, records, strict=True))
    assert result.plan is plan and runner.result is result
    assert entry.phase is ModelPhase.DONE and entry.summary is not None
    assert result.server is not None and not result.cancelled
    # the same plan in this process gives the same shape of result
    local = await BenchmarkRunner(plan, lambda _e: None).run()
    assert len(local.models["demo-fast:1b"].records) == len(entry.records)
    assert [r.ok for r in entry.records] == [True] * 7


async def test_a_warm_engine_runs_the_next_plan(demo: DemoServerThread) -> None:
    first = ProcessRunner(plan_for(demo.url), lambda _e: None)
    await first.run()
    assert process_runner.idle_engine_pids()[-1] == first.pid
    second = ProcessRunner(plan_for(demo.url), lambda _e: None)
    await second.run()
    assert second.pid == first.pid


async def test_the_result_holds_what_the_events_carried_while_it_runs(
    demo: DemoServerThread,
) -> None:
    seen: list[int] = []
    runner: ProcessRunner

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            seen.append(len(runner.result.models["demo-fast:1b"].records))

    runner = ProcessRunner(plan_for(demo.url), on_event)
    await runner.run()
    assert seen == list(range(1, 6))  # folded before the consumer hears of each batch


async def test_a_token_goes_over_the_pipe_and_works(demo: DemoServerThread) -> None:
    plan = plan_for(demo.url)
    token = TokenRef(value=Secret("sk-process-runner-canary-1234"))
    plan = replace(plan, endpoint=replace(plan.endpoint, token=token))
    result = await ProcessRunner(plan, lambda _e: None).run()
    assert all(r.ok for r in result.models["demo-fast:1b"].records)
    assert result.plan.endpoint.token is token


async def test_cancel_from_another_thread_ends_the_run_cancelled(demo: DemoServerThread) -> None:
    plan = plan_for(demo.url, "demo-slow:70b", passes=10, warmup=0, concurrency=2)
    events: list[BenchmarkEvent] = []
    asked: list[float] = []
    runner: ProcessRunner

    def on_event(event: BenchmarkEvent) -> None:
        events.append(event)
        if isinstance(event, RunFinished) and not asked:
            asked.append(time.monotonic())
            threading.Thread(target=runner.cancel).start()
        if isinstance(event, BenchmarkFinished):
            asked.append(time.monotonic())

    runner = ProcessRunner(plan, on_event)
    result = await runner.run()
    assert result.cancelled and runner.cancel_requested
    entry = result.models["demo-slow:70b"]
    assert 1 <= len(entry.records) < 10 and all(r.ok for r in entry.records)
    assert entry.phase is ModelPhase.CANCELLED
    finished = [e for e in events if isinstance(e, BenchmarkFinished)]
    assert len(finished) == 1 and finished[0].cancelled
    # the cancel reached the engine at once (the demo's slow model takes seconds a run);
    # the margin is for a loaded machine
    assert asked[1] - asked[0] < 2.0
    sent = demo.stats().by_path.get("/v1/chat/completions", 0)
    assert sent <= len(entry.records) + 2  # at most the runs in flight at the cancel
    assert runner.pid not in process_runner.idle_engine_pids()  # let go, not kept warm


async def test_cancel_before_the_run_starts(demo: DemoServerThread) -> None:
    runner = ProcessRunner(plan_for(demo.url, passes=50), lambda _e: None)
    runner.cancel()
    result = await runner.run()
    assert result.cancelled
    assert len(result.models["demo-fast:1b"].records) == 0


async def test_the_engines_exception_reaches_the_caller_as_itself() -> None:
    plan = plan_for("http://127.0.0.1:9")  # nothing listens on port 9
    plan = replace(plan, endpoint=replace(plan.endpoint, timeouts=TimeoutPolicy(connect_s=2)))
    with pytest.raises(EndpointUnreachable) as in_child:
        await ProcessRunner(plan, lambda _e: None).run()
    with pytest.raises(EndpointUnreachable) as here:
        await BenchmarkRunner(plan, lambda _e: None).run()
    assert str(in_child.value) == str(here.value)
    bad = replace(plan, passes=0)
    with pytest.raises(ValueError, match="pass"):
        await ProcessRunner(bad, lambda _e: None).run()


async def test_an_exception_that_cannot_cross_is_a_runtime_error_with_its_text() -> None:
    with pytest.raises(RuntimeError, match=r"Unpicklable: the engine broke"):
        await ProcessRunner(plan_for("http://127.0.0.1:9"), lambda _e: None,
                            engine=unpicklable_engine).run()  # fmt: skip


async def test_an_engine_that_exits_is_an_error_naming_its_exit_code() -> None:
    with pytest.raises(EngineProcessError, match="exited with code 3"):
        await ProcessRunner(plan_for("http://127.0.0.1:9"), lambda _e: None,
                            engine=exiting_engine).run()  # fmt: skip


async def test_a_killed_engine_is_an_error_never_a_hang(demo: DemoServerThread) -> None:
    plan = plan_for(demo.url, "demo-slow:70b", passes=10, warmup=0, concurrency=2)
    runner: ProcessRunner

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, BenchmarkStarted) and runner.pid is not None:
            os.kill(runner.pid, signal.SIGKILL)

    runner = ProcessRunner(plan, on_event)
    with pytest.raises(EngineProcessError, match=r"died \(signal 9, SIGKILL\)"):
        await asyncio.wait_for(runner.run(), 30)
    assert runner.pid is not None and wait_gone(runner.pid)


def test_events_are_sent_in_batches() -> None:
    writes: list[bytes] = []

    class Writer:
        def write(self, data: bytes) -> None:
            writes.append(data)

    async def wave() -> None:
        batch = _Batcher(1, Writer())  # type: ignore[arg-type]
        for _ in range(200):
            batch.on_event(BenchmarkFinished(cancelled=False))
        assert writes == []  # nothing written per event
        await asyncio.sleep(process_runner.FLUSH_S * 3)
        assert len(writes) == 1  # the wave in one write
        for _ in range(process_runner.MAX_BATCH):
            batch.on_event(BenchmarkFinished(cancelled=False))
        assert len(writes) == 2  # a full batch goes at once
        batch.on_event(BenchmarkStarted(models=(), total_runs=1, warmup_requests=0))
        assert len(writes) == 3  # and the start: the screen shows the run began

    asyncio.run(wave())


PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from ometer_tui.core.bench import process_runner
    from ometer_tui.core.bench.events import BenchmarkStarted
    from tests.integration.test_process_runner import plan_for

    process_runner._PDEATHSIG = sys.argv[2] == "pdeathsig"
    runner = None

    def on_event(event):
        if isinstance(event, BenchmarkStarted):
            print(runner.pid, flush=True)

    runner = process_runner.ProcessRunner(
        plan_for(sys.argv[1], "demo-slow:70b", passes=100, warmup=0), on_event)
    asyncio.run(runner.run())
    """
)


@pytest.mark.parametrize("how", ["pdeathsig", "eof"])
def test_a_killed_parent_leaves_no_engine_behind(demo: DemoServerThread, how: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, demo.url, how],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    child = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), parent.stderr.read() if parent.stderr else line
        child = int(line)
        assert not gone(child)
        parent.kill()
        parent.wait(10)
        assert wait_gone(child, 5.0)
    finally:
        parent.kill()
        parent.wait(10)
        if child is not None and not gone(child):
            os.kill(child, signal.SIGKILL)


async def test_the_engine_counts_chunks_and_requests_in_flight(demo: DemoServerThread) -> None:
    plan = plan_for(demo.url, passes=4, warmup=0)
    chunks, in_flight = COUNTERS.chunks, COUNTERS.in_flight
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, COUNTERS.in_flight - in_flight)
            await asyncio.sleep(0.002)

    watcher = asyncio.ensure_future(watch())
    try:
        result = await BenchmarkRunner(plan, lambda _e: None).run()
    finally:
        watcher.cancel()
    records = result.models["demo-fast:1b"].records
    assert most == 2  # the plan's concurrency
    assert COUNTERS.in_flight == in_flight
    assert COUNTERS.chunks - chunks >= len(records) == 4  # reads merge: at least one a run


async def test_a_plan_the_engine_cannot_read_fails_the_run_not_the_engine() -> None:
    plan = plan_for("http://127.0.0.1:9")
    with pytest.raises(EngineProcessError, match="could not read the plan: No module named"):
        await asyncio.wait_for(ProcessRunner(plan, lambda _e: None, engine=Unreadable()).run(), 60)


async def test_a_benchmark_of_two_endpoints_keeps_its_rows_keyed_by_endpoint(
    demo: DemoServerThread,
) -> None:
    native = Endpoint(name="native", url=demo.url, api=ApiFlavour.OLLAMA, simulated=True)
    v1 = replace(native, name="v1", api=ApiFlavour.OPENAI)
    fast = (ModelInfo(name="demo-fast:1b"),)
    params = GenerationParams(max_tokens=8)
    plan = combine_plans([
        BenchmarkPlan(endpoint=native, models=fast, passes=2, warmup=0, params=params),
        BenchmarkPlan(endpoint=v1, models=fast, passes=3, warmup=0, params=params),
    ])  # fmt: skip
    result = await ProcessRunner(plan, lambda _e: None).run()
    assert list(result.models) == [row_key("native", "demo-fast:1b"), row_key("v1", "demo-fast:1b")]
    assert [len(mr.records) for mr in result.models.values()] == [2, 3]
    assert [mr.endpoint for mr in result.models.values()] == ["native", "v1"]
    assert set(result.servers) == {"native", "v1"}
