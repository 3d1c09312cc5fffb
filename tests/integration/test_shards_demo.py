"""``--workers``: one plan split across workers against the demo endpoint over real HTTP
on loopback (each worker an engine on the test's loop: the in-loop shard factory) gives
the result one engine gives."""

from __future__ import annotations

from collections import Counter

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted, ModelFinished
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.shards import MergedRunner, in_loop_shard_factory
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec, arrival_times
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.server import DemoServerThread

MODELS = (ModelInfo(name="demo-fast:1b"), ModelInfo(name="demo-medium:8b"))


def plan_for(demo: DemoServerThread, **changes: object) -> BenchmarkPlan:
    fields: dict[str, object] = {
        "endpoint": Endpoint(name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True),
        "models": MODELS,
        "prompts": ("Name a colour.", "Name a fruit."),
        "passes": 3,
        "warmup": 0,
        "concurrency": 3,
        "parallel_models": 2,
        "params": GenerationParams(max_tokens=4, temperature=0.0, seed=1),
        **changes,
    }
    return BenchmarkPlan(**fields)  # type: ignore[arg-type]


async def run(plan: BenchmarkPlan, workers: int) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    if workers == 1:
        return await BenchmarkRunner(plan, events.append).run(), events
    runner = MergedRunner(
        plan, events.append, workers=workers, shard_factory=in_loop_shard_factory()
    )
    return await runner.run(), events


def work(result: BenchmarkResult) -> dict[str, Counter[tuple[int, int, int | None]]]:
    return {
        name: Counter(
            (r.pass_index, r.prompt_index, r.load.conversation if r.load else None)
            for r in mr.records
            if not r.warmup
        )
        for name, mr in result.models.items()
    }


def figures(result: BenchmarkResult) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for name, mr in result.models.items():
        s = mr.summary
        assert s is not None
        out[name] = (s.runs, s.ok, s.output_tokens, s.prompt_tokens)
    return out


async def test_closed_loop_over_http_is_one_engines_result(demo: DemoServerThread) -> None:
    plan = plan_for(demo)
    one, _ = await run(plan, 1)
    assert figures(one)["demo-fast:1b"][:2] == (6, 6)
    for workers in (2, 3):
        merged, events = await run(plan, workers)
        assert figures(merged) == figures(one)
        assert work(merged) == work(one)
        started = [e for e in events if isinstance(e, BenchmarkStarted)]
        assert len(started) == 1 and started[0].total_runs == 12
        assert Counter(e.model for e in events if isinstance(e, ModelFinished)) == Counter(
            m.name for m in MODELS
        )
        for name, mr in merged.models.items():
            assert mr.summary == summarise(name, mr.records, plan.prices)


async def test_open_loop_over_http_keeps_the_timetable(demo: DemoServerThread) -> None:
    arrival = ArrivalSpec(80.0, ArrivalKind.POISSON)
    load = LoadSpec(arrival=arrival, stop=StopConditions(max_requests=24), seed=5)
    plan = plan_for(demo, models=MODELS[:1], load=load)
    offsets = [t for _, t in zip(range(24), arrival_times(arrival, 5), strict=False)]
    one, _ = await run(plan, 1)
    merged, _ = await run(plan, 2)
    assert work(merged) == work(one)
    assert figures(merged) == figures(one)
    records = {r.load.conversation: r for r in merged.models["demo-fast:1b"].records if r.load}
    assert sorted(records) == list(range(24))
    for w in (0, 1):
        mine = [k for k in range(24) if k % 2 == w]
        base = records[mine[0]].load
        assert base is not None and base.intended_at_s is not None
        for k in mine:
            stamp = records[k].load
            assert stamp is not None and stamp.intended_at_s is not None
            gap = stamp.intended_at_s - base.intended_at_s
            assert gap == pytest.approx(offsets[k] - offsets[mine[0]], abs=2e-9)
    summary = merged.models["demo-fast:1b"].summary
    assert summary is not None and summary.load is not None
    assert summary.load.as_dict()["requests_sent"] == 24
