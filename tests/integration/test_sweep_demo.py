"""Sweeps, the SLO search and repeats against the demo's capacity model over loopback:
the knee comes out where the model's parameters put it (``CapacityParams.knee_rate``),
and the search returns the rate the model allows for the SLO, within its precision."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.slo import targets_from_args
from ometer_tui.core.bench.steps import (
    LoadKind,
    StepFinished,
    StepStarted,
    SweepEvent,
    SweepFinished,
)
from ometer_tui.core.bench.sweep import SweepRunner, parse_sweep
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.capacity import CAPACITY_MODELS
from ometer_tui.demo.server import DemoServerThread

CAP = "cap-4slot:1b"
PARAMS = CAPACITY_MODELS[CAP]
OUT = 8  # answer tokens: knee ~16.9 requests/s for a short prompt


def plan(demo: DemoServerThread, load: LoadSpec, model: str = CAP) -> BenchmarkPlan:
    return BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True),
        models=(ModelInfo(model),),
        prompts=("Say something.",),
        warmup=1,
        params=GenerationParams(max_tokens=OUT),
        load=load,
    )


def known_knee(prompt_tokens: float) -> float:
    return PARAMS.knee_rate(prompt_tokens, OUT)


async def test_a_concurrency_sweep_finds_the_knee_and_stops_at_saturation(
    demo: DemoServerThread,
) -> None:
    events: list[object] = []
    load = LoadSpec(output_tokens=Fixed(OUT), stop=StopConditions(duration_s=2.5))
    runner = SweepRunner(plan(demo, load), events.append)
    result = await runner.sweep(parse_sweep("concurrency=1,4,8,16,32"))
    record = result.sweep
    assert record is not None
    # 1 -> 4 streams: throughput grows; 8 and 16: flat at the knee while TTFT climbs
    # (requests queue for the 4 slots): two saturated steps in a row stop the sweep
    assert [s.load.value for s in record.steps] == [1, 4, 8, 16]
    assert record.stop_reason is not None and record.stop_reason.startswith("saturated at")
    assert [s.saturated for s in record.steps] == [(), (), (CAP,), (CAP,)]
    assert record.steps[3].stop_reason == record.stop_reason
    prompt = statistics.fmean(
        r.prompt_tokens or 0 for s in record.steps for m in s.models for r in m.records
    )
    knee = record.knees[CAP]
    assert knee.load.value == 4  # the slots: more streams only queue
    # the window includes each step's drain, so measured throughput sits a little below
    assert knee.max_throughput_rps == pytest.approx(known_knee(prompt), rel=0.15)
    ttft = [s.points()[CAP].ttft_p50_s or 0 for s in record.steps]
    assert ttft[3] > ttft[2] > 4 * ttft[1]  # queueing above the knee
    # the events a chart needs, in order, and every step's records on one timeline
    kinds = [type(e) for e in events if isinstance(e, StepStarted | StepFinished | SweepFinished)]
    assert kinds == [StepStarted, StepFinished] * 4 + [SweepFinished]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert finished[2].points[CAP].throughput_rps == record.steps[2].points()[CAP].throughput_rps
    assert finished[2].saturated == (CAP,) and finished[1].saturated == ()
    assert finished[3].verdict == record.stop_reason  # said as the step finished
    runs = result.models[CAP].records
    assert len(runs) == sum(len(m.records) for s in record.steps for m in s.models)
    starts = [s.started_s for s in record.steps]
    assert starts == sorted(starts)
    last = [r for r in record.steps[3].models[0].records if not r.warmup]
    assert min(r.started_at_s for r in last) >= record.steps[3].started_s


async def test_the_slo_search_returns_the_rate_the_model_allows(demo: DemoServerThread) -> None:
    """Constant arrivals at r above the knee k for D seconds: the queue grows by r - k a
    second, so the p90 request waits about 0.9·D·(r/k - 1). The highest rate whose TTFT
    p90 stays within L is then about k·(1 + L / (0.9·D))."""
    duration, limit_ms, precision = 3.0, 150.0, 0.1
    load = LoadSpec(
        arrival=ArrivalSpec(1.0, ArrivalKind.CONSTANT),
        output_tokens=Fixed(OUT),
        stop=StopConditions(duration_s=duration),
    )
    events: list[SweepEvent | object] = []
    slo = targets_from_args([f"ttft:{limit_ms:g}"])
    runner = SweepRunner(plan(demo, load), events.append, slo=slo)
    result = await runner.find_max(LoadKind.RATE, precision)
    record = result.sweep
    assert record is not None and record.search is not None
    found, missed = record.search.best, record.search.missed
    assert found is not None and missed is not None
    assert missed - found <= precision * found  # bisected to the stated precision
    prompt = statistics.fmean(r.prompt_tokens or 0 for r in result.models[CAP].records)
    expected = known_knee(prompt) * (1 + limit_ms / 1000 / (0.9 * duration))
    assert found == pytest.approx(expected, rel=0.15)
    probes = [e for e in events if isinstance(e, StepFinished) and e.step.role == "probe"]
    assert all(e.verdict is not None and "SLOs" in e.verdict for e in probes)
    assert any(e.step.meets_slo for e in probes) and any(not e.step.meets_slo for e in probes)


async def test_repeats_give_a_confidence_interval_per_figure(demo: DemoServerThread) -> None:
    load = LoadSpec(stop=StopConditions(max_requests=6))
    runner = SweepRunner(plan(demo, load, "demo-fast:1b"), lambda e: None)
    result = await runner.repeat(3)
    record = result.sweep
    assert record is not None and [s.repeat for s in record.steps] == [0, 1, 2]
    ((index, step_load, model, figures),) = record.repeat_stats()
    assert (index, step_load.kind, model) == (0, LoadKind.CONCURRENCY, "demo-fast:1b")
    ci = figures["throughput_rps"]
    values = [s.points()[model].throughput_rps for s in record.steps]
    assert ci.n == 3 and ci.mean == pytest.approx(statistics.fmean(v or 0 for v in values))
    assert ci.low is not None and ci.high is not None and ci.low <= ci.mean <= ci.high
    assert result.models[model].summary is not None
    assert result.models[model].summary.runs == 18  # the three repeats' measured runs


def _quick(demo: DemoServerThread) -> BenchmarkPlan:
    load = LoadSpec(stop=StopConditions(max_requests=3))
    return replace(
        plan(demo, load, "demo-fast:1b"), warmup=0, params=GenerationParams(max_tokens=4)
    )


async def test_cancel_keeps_the_finished_steps_and_starts_no_other(demo: DemoServerThread) -> None:
    runner: SweepRunner

    def sink(event: object) -> None:
        if isinstance(event, StepFinished) and event.step.index == 0:
            runner.cancel()  # as ctrl+c would, between two steps

    runner = SweepRunner(_quick(demo), sink)
    result = await runner.sweep(parse_sweep("concurrency=1,2,4"))
    assert result.cancelled and result.sweep is not None
    assert [s.load.value for s in result.sweep.steps] == [1]
    assert len([r for r in result.models["demo-fast:1b"].records if not r.warmup]) == 3


async def test_an_endpoint_lost_mid_sweep_keeps_the_steps_measured(
    demo: DemoServerThread,
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    calls = 0

    def factory(p: BenchmarkPlan, sink: Callable[[BenchmarkEvent], None]) -> BenchmarkRunner:
        nonlocal calls
        calls += 1
        if calls == 2:  # the server went away before the second step
            p = replace(p, endpoint=replace(p.endpoint, url=dead))
        return BenchmarkRunner(p, sink)

    runner = SweepRunner(_quick(demo), lambda e: None, runner_factory=factory)
    result = await runner.sweep(parse_sweep("concurrency=1,2,4"))
    record = result.sweep
    assert record is not None and not result.cancelled
    assert [s.load.value for s in record.steps] == [1]
    assert record.stop_reason is not None
    assert record.stop_reason.startswith("the endpoint became unreachable at concurrency 2")


async def test_a_step_over_the_error_budget_stops_the_sweep(demo: DemoServerThread) -> None:
    base = replace(_quick(demo), retry=RetryPolicy(max_retries=0))
    failing = replace(base, models=(ModelInfo("fault-server-error"),))
    runner = SweepRunner(failing, lambda e: None)
    result = await runner.sweep(parse_sweep("concurrency=1,2,4"))
    record = result.sweep
    assert record is not None and [s.load.value for s in record.steps] == [1]
    assert record.stop_reason == (
        "error budget: 3/3 requests of fault-server-error failed at concurrency 1 (above 10%)"
    )


async def test_a_rate_sweep_plateaus_at_the_knee(demo: DemoServerThread) -> None:
    """Constant arrivals at 0.5, 0.8, 1.3 and 1.8 times the knee k: below it the server
    keeps up (throughput = the rate); above it throughput stays at k while the queue,
    and TTFT, grow: the sweep flags the steps past the knee as saturated."""
    k = known_knee(5)  # "Say something." in a chat: a few words
    load = LoadSpec(
        arrival=ArrivalSpec(1.0, ArrivalKind.CONSTANT),
        output_tokens=Fixed(OUT),
        stop=StopConditions(duration_s=2.5),
    )
    finished: list[StepFinished] = []
    runner = SweepRunner(
        plan(demo, load), lambda e: finished.append(e) if isinstance(e, StepFinished) else None
    )
    rates = [round(f * k, 2) for f in (0.5, 0.8, 1.3, 1.8)]
    result = await runner.sweep(parse_sweep("rate=" + ",".join(map(str, rates))))
    record = result.sweep
    assert record is not None and len(record.steps) == 4
    points = [s.points()[CAP] for s in record.steps]
    assert points[0].throughput_rps == pytest.approx(rates[0], rel=0.2)
    top = max(p.throughput_rps or 0 for p in points)
    assert top == pytest.approx(k, rel=0.2)
    assert (points[3].ttft_p50_s or 0) > 3 * (points[1].ttft_p50_s or 1)
    assert record.knees[CAP].load.value in rates[1:3]  # where the model puts it
    assert record.steps[0].saturated == () and record.steps[3].saturated == (CAP,)
