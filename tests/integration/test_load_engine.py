"""Loads (plan.load) against the demo endpoint over real HTTP on loopback: the open-loop
timetable, the cap on requests in flight, coordinated-omission-corrected latency, ramp-up,
stop conditions, multi-turn, synthetic lengths and RPM limits with every mode."""

from __future__ import annotations

import asyncio
import itertools
import statistics

import pytest

from ometer_tui.core.api.base import GenerationRequest
from ometer_tui.core.api.openai import build_generate_payload
from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted, RunFinished
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit, RetryPolicy
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread

FAST = ModelInfo(name="demo-fast:1b")


def endpoint(demo: DemoServerThread, flavour: ApiFlavour = ApiFlavour.OPENAI) -> Endpoint:
    return Endpoint(name="demo", url=demo.url, api=flavour, simulated=True)


async def run(
    demo: DemoServerThread,
    load: LoadSpec,
    *,
    model: ModelInfo = FAST,
    max_tokens: int = 4,
    flavour: ApiFlavour = ApiFlavour.OPENAI,
    **plan_changes: object,
) -> tuple[BenchmarkResult, list[RunRecord], list[BenchmarkEvent]]:
    plan = BenchmarkPlan(
        endpoint=endpoint(demo, flavour),
        models=(model,),
        warmup=0,
        params=GenerationParams(max_tokens=max_tokens),
        load=load,
        **plan_changes,  # type: ignore[arg-type]
    )
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    records = [r for r in result.models[model.name].records if not r.warmup]
    return result, records, events


def _gaps(values: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(values))]


async def test_open_loop_poisson_follows_the_timetable(demo: DemoServerThread) -> None:
    """300 Poisson arrivals at 100/s (seeded): the sends follow the intended times, the
    achieved rate is within 5% of the timetable's and of the rate asked, and the gaps
    between sends have a coefficient of variation near 1."""
    load = LoadSpec(
        arrival=ArrivalSpec(100.0, ArrivalKind.POISSON),
        stop=StopConditions(max_requests=300),
        seed=11,
    )
    result, records, events = await run(demo, load)
    assert len(records) == 300 and all(r.ok for r in records)
    started = next(e for e in events if isinstance(e, BenchmarkStarted))
    assert started.total_runs == 300
    stamps = [r.load for r in records]
    assert all(s is not None and s.intended_at_s is not None for s in stamps)
    intended = [s.intended_at_s for s in stamps if s is not None and s.intended_at_s is not None]
    actual = [r.started_at_s for r in records]
    intended_rate = (len(intended) - 1) / (max(intended) - min(intended))
    actual_rate = (len(actual) - 1) / (max(actual) - min(actual))
    assert abs(actual_rate - intended_rate) / intended_rate < 0.05
    assert abs(actual_rate - 100.0) / 100.0 < 0.05
    cv = statistics.pstdev(_gaps(actual)) / statistics.fmean(_gaps(actual))
    assert 0.85 < cv < 1.15
    for r in records:
        assert r.load is not None and r.load.schedule_lag_s is not None
        assert r.load.schedule_lag_s >= 0  # never sent before its time
        assert r.load.schedule_lag_s == pytest.approx(r.started_at_s - r.load.intended_at_s)
        assert r.load.ttft_from_intended_s == pytest.approx(r.ttft_s + r.load.schedule_lag_s)
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert summary.load.mode == "open" and summary.load.offered_rate == 100.0
    assert summary.load.achieved_rate == pytest.approx(actual_rate)
    lag = summary.load.schedule_lag_s
    assert lag is not None and lag.n == 300
    assert lag.p50 < 0.05  # generous: the demo server shares this process
    assert "300 requests sent" in (summary.load.stop_reason or "")


async def test_gamma_burstiness_shows_in_the_sends(demo: DemoServerThread) -> None:
    """Burstiness 0.25: the sends' gaps vary about twice as much as Poisson's (CV ~2)."""
    load = LoadSpec(
        arrival=ArrivalSpec(100.0, ArrivalKind.GAMMA, 0.25),
        stop=StopConditions(max_requests=300),
        seed=5,
    )
    _, records, _ = await run(demo, load)
    intended = [r.load.intended_at_s for r in records if r.load and r.load.intended_at_s]
    gaps = _gaps(intended)
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert 1.6 < cv < 2.4


async def test_a_cap_on_requests_in_flight_makes_lag_and_latency_from_intended_grow(
    demo: DemoServerThread,
) -> None:
    """One request in flight, each taking ~0.07 s, asked 40/s: sends fall behind the
    timetable; latency from the intended time keeps counting the wait (coordinated
    omission corrected), latency from the actual send does not."""
    load = LoadSpec(
        arrival=ArrivalSpec(40.0, ArrivalKind.CONSTANT),
        max_concurrency=1,
        stop=StopConditions(max_requests=12),
    )
    result, records, _ = await run(demo, load, max_tokens=8)
    assert all(r.ok for r in records)
    ordered = sorted(records, key=lambda r: r.started_at_s)
    for a, b in itertools.pairwise(ordered):
        assert b.started_at_s >= a.finished_at_s - 1e-3  # never two in flight
    last = ordered[-1].load
    assert last is not None and last.schedule_lag_s is not None
    assert last.schedule_lag_s > 0.3
    assert last.ttft_from_intended_s is not None and ordered[-1].ttft_s is not None
    assert last.ttft_from_intended_s > ordered[-1].ttft_s + 0.3
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert summary.load.max_in_flight == 1
    s = summary.load.ttft_from_intended_s
    assert s is not None and s.p50 > summary.metrics["ttft_s"].p50


async def test_open_loop_duration_stops_the_timetable(demo: DemoServerThread) -> None:
    load = LoadSpec(
        arrival=ArrivalSpec(20.0, ArrivalKind.CONSTANT), stop=StopConditions(duration_s=1.0)
    )
    result, records, _ = await run(demo, load)
    assert len(records) == 20  # 0, 0.05, ..., 0.95 s
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert "duration 1 s" in (summary.load.stop_reason or "")


async def test_rate_ramp_up_against_the_demo(demo: DemoServerThread) -> None:
    """A 2 s ramp to 40/s then 1 s at 40/s: ~40 sends in the ramp, ~40 after it."""
    load = LoadSpec(
        arrival=ArrivalSpec(40.0, ArrivalKind.CONSTANT),
        ramp_up_s=2.0,
        stop=StopConditions(duration_s=3.0),
    )
    _, records, _ = await run(demo, load)
    sent = sorted(records, key=lambda r: r.started_at_s)  # (records are kept as they end)
    intended = [r.load.intended_at_s for r in sent if r.load and r.load.intended_at_s]
    start = min(r.started_at_s for r in records)  # the first is due at the load's start
    in_ramp = sum(1 for r in records if r.started_at_s - start < 2.0)
    assert abs(in_ramp - 40) <= 3
    assert abs(len(records) - in_ramp - 40) <= 3
    assert intended == sorted(intended)


async def test_closed_loop_with_ramp_up_and_a_request_count(demo: DemoServerThread) -> None:
    """Four streams started over 0.6 s; exactly 12 requests; no intended times."""
    load = LoadSpec(ramp_up_s=0.6, stop=StopConditions(max_requests=12))
    result, records, _ = await run(demo, load, concurrency=4, max_tokens=16)
    assert len(records) == 12
    starts = sorted(r.started_at_s for r in records)
    assert starts[1] - starts[0] < 0.2  # stream 1 sends twice before stream 2 exists
    for r in records:
        assert r.load is not None and r.load.intended_at_s is None
    assert sorted(r.load.conversation for r in records if r.load) == list(range(12))
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert summary.load.mode == "closed" and summary.load.schedule_lag_s is None
    assert summary.load.max_in_flight <= 4


async def test_closed_loop_ramp_staggers_the_streams(demo: DemoServerThread) -> None:
    load = LoadSpec(ramp_up_s=0.9, stop=StopConditions(max_requests=3))
    _, records, _ = await run(
        demo, load, concurrency=3, model=ModelInfo("demo-slow:70b"), max_tokens=16
    )
    starts = sorted(r.started_at_s for r in records)
    # demo-slow takes ~1.2 s for 16 tokens: each of the 3 requests is a new stream's first
    assert starts[1] - starts[0] == pytest.approx(0.3, abs=0.1)
    assert starts[2] - starts[0] == pytest.approx(0.6, abs=0.1)


async def test_error_budget_stops_the_load(demo: DemoServerThread) -> None:
    load = LoadSpec(stop=StopConditions(max_requests=50, max_errors=3))
    result, records, _ = await run(
        demo, load, model=ModelInfo("fault-server-error"), retry=RetryPolicy(max_retries=0)
    )
    assert len(records) == 3 and not any(r.ok for r in records)
    summary = result.models["fault-server-error"].summary
    assert summary is not None and summary.load is not None
    assert "3 errors" in (summary.load.stop_reason or "")


@pytest.mark.parametrize("flavour", [ApiFlavour.OLLAMA, ApiFlavour.OPENAI])
async def test_multi_turn_grows_the_prompt_each_turn(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    load = LoadSpec(turns=3, stop=StopConditions(max_requests=6))
    result, records, _ = await run(demo, load, flavour=flavour, max_tokens=8)
    assert len(records) == 6 and all(r.ok for r in records)
    by_conv: dict[int, list[RunRecord]] = {}
    for r in records:
        assert r.load is not None
        by_conv.setdefault(r.load.conversation, []).append(r)
    assert len(by_conv) == 2
    for turns in by_conv.values():
        tokens = [r.prompt_tokens or 0 for r in sorted(turns, key=lambda r: r.load.turn)]  # type: ignore[union-attr]
        assert tokens[0] < tokens[1] < tokens[2]
        assert tokens[1] - tokens[0] >= 8  # the answer (8 words) went back in
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    turns = summary.load.turns
    assert [t.turn for t in turns] == [1, 2, 3]
    assert [t.n for t in turns] == [2, 2, 2]
    means = [t.prompt_tokens_mean or 0 for t in turns]
    assert means == sorted(means) and means[0] < means[2]


@pytest.mark.parametrize("flavour", [ApiFlavour.OLLAMA, ApiFlavour.OPENAI])
async def test_synthetic_input_and_output_lengths(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    """The demo has no /tokenize: lengths come from a calibration against its usage."""
    load = LoadSpec(
        input_tokens=Fixed(200),
        output_tokens=Fixed(20),
        stop=StopConditions(max_requests=6),
        seed=3,
    )
    result, records, _ = await run(demo, load, flavour=flavour, concurrency=2)
    assert all(r.ok for r in records)
    for r in records:
        assert r.prompt_tokens is not None and abs(r.prompt_tokens - 200) <= 4
        assert r.output_tokens == 20
        assert r.load is not None
        assert (r.load.input_tokens_asked, r.load.output_tokens_asked) == (200, 20)
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert summary.load.token_source == "calibrated"
    assert summary.load.input_tokens_asked_mean == 200
    assert summary.load.input_tokens_actual_mean == pytest.approx(200, abs=4)
    assert summary.load.output_tokens_actual_mean == 20


async def test_rpm_limit_holds_in_open_loop(demo: DemoServerThread) -> None:
    """Asked 50/s under a 600 RPM (10/s) limit: the limit wins, the lag shows it."""
    load = LoadSpec(
        arrival=ArrivalSpec(50.0, ArrivalKind.CONSTANT), stop=StopConditions(max_requests=8)
    )
    _, records, _ = await run(demo, load, rate_limit=RateLimit(requests_per_minute=600))
    starts = sorted(r.started_at_s for r in records)
    assert starts[-1] - starts[0] >= 7 * 0.1 * 0.9
    lags = [r.load.schedule_lag_s or 0 for r in records if r.load]
    assert max(lags) > 0.4
    assert max(r.queue_s for r in records) > 0.05


def test_output_length_parameters_are_sent_to_openai_compatible_servers() -> None:
    request = GenerationRequest(
        model="m", prompt="p", params=GenerationParams(max_tokens=7, min_tokens=7, ignore_eos=True)
    )
    _, payload = build_generate_payload(request)
    assert (payload["max_tokens"], payload["min_tokens"], payload["ignore_eos"]) == (7, 7, True)
    _, plain = build_generate_payload(GenerationRequest("m", "p", GenerationParams()))
    assert "min_tokens" not in plain and "ignore_eos" not in plain


async def test_a_plan_without_load_is_the_closed_loop_as_before(demo: DemoServerThread) -> None:
    plan = BenchmarkPlan(
        endpoint=endpoint(demo), models=(FAST,), prompts=("a", "b"), passes=2, warmup=0
    )
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    records = result.models[FAST.name].records
    assert len(records) == 4 and all(r.load is None for r in records)
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is None
    assert sum(isinstance(e, RunFinished) for e in events) == 4


async def test_cancel_stops_an_open_loop_and_keeps_its_runs(demo: DemoServerThread) -> None:
    """Cancelled after 10 runs: no request leaves after the cancel, the result is marked
    cancelled and the summary (with its load figures) covers the runs that finished."""
    load = LoadSpec(
        arrival=ArrivalSpec(50.0, ArrivalKind.CONSTANT), stop=StopConditions(max_requests=500)
    )
    plan = BenchmarkPlan(
        endpoint=endpoint(demo),
        models=(FAST,),
        warmup=0,
        params=GenerationParams(max_tokens=4),
        load=load,
    )
    runner: BenchmarkRunner

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished) and event.model_done == 10:
            runner.cancel()

    runner = BenchmarkRunner(plan, on_event)
    path = "/v1/chat/completions"
    before = demo.stats().by_path.get(path, 0)
    result = await runner.run()
    await asyncio.sleep(0.3)  # at 50/s, 15 more would be due by now if sends went on
    sent = demo.stats().by_path.get(path, 0) - before
    assert result.cancelled
    records = result.models[FAST.name].records
    assert 10 <= len(records) < 20
    assert sent <= len(records) + 5  # the few in flight at the cancel are cut, no more
    summary = result.models[FAST.name].summary
    assert summary is not None and summary.load is not None
    assert summary.load.requests_sent == len(records)


def test_cached_prompt_tokens_are_read_from_either_server_shape() -> None:
    """OpenAI ``usage.prompt_tokens_details.cached_tokens`` and llama.cpp
    ``timings.cache_n`` both end up as the run's ``cached_tokens``."""
    from ometer_tui.core.api.base import GenerationObservation
    from ometer_tui.core.api.openai import OpenAIClient
    from ometer_tui.core.bench.records import ServerTimings
    from ometer_tui.core.bench.runner import cached_tokens

    obs = GenerationObservation()
    OpenAIClient._usage(
        {
            "prompt_tokens": 90,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 64},
        },
        obs,
    )
    assert obs.prompt_tokens == 90
    record = RunRecord(
        model="m", pass_index=1, prompt_index=0, warmup=False, ok=True,
        server_timings=ServerTimings.from_mapping(obs.server_timings),
    )  # fmt: skip
    assert cached_tokens(record) == 64
    llama = RunRecord(
        model="m", pass_index=1, prompt_index=0, warmup=False, ok=True,
        server_timings=ServerTimings.from_mapping({"cache_n": 300.0, "prompt_n": 40.0}),
    )  # fmt: skip
    assert cached_tokens(llama) == 300
    assert cached_tokens(RunRecord("m", 1, 0, False, True)) is None
