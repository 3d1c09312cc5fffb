"""The demo's capacity model (``cap-4slot:1b``) served live over HTTP, measured by the
engine: its known figures come back, TTFT grows with queueing above the knee, and a
shared prefix is served from its prefix cache."""

from __future__ import annotations

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.capacity import CAPACITY_MODELS
from ometer_tui.demo.server import DemoServerThread

CAP = "cap-4slot:1b"
PARAMS = CAPACITY_MODELS[CAP]


async def run(
    demo: DemoServerThread, load: LoadSpec | None, **changes: object
) -> tuple[BenchmarkResult, list[RunRecord]]:
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True),
        models=(ModelInfo(CAP),),
        warmup=0,
        params=GenerationParams(max_tokens=16),
        load=load,
        **changes,  # type: ignore[arg-type]
    )
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, [r for r in result.models[CAP].records if not r.warmup]


async def test_one_stream_shows_the_models_known_figures(demo: DemoServerThread) -> None:
    _, records = await run(demo, None, prompts=("Say something.",), passes=3)
    for r in records:
        assert r.ok and r.output_tokens == 16
        assert r.ttft_s is not None and r.ttft_s < 0.05  # a few tokens of prefill
        assert r.decode_tps == pytest.approx(PARAMS.stream_tps, rel=0.1)


async def test_ttft_grows_with_queueing_above_the_knee(demo: DemoServerThread) -> None:
    """16-token answers to short prompts: the knee is ~7.7 requests/s. Offered 16/s,
    the queue grows, and so does TTFT from the first requests to the last."""
    knee = PARAMS.knee_rate(10, 16)
    assert 7 < knee < 8.5
    load = LoadSpec(
        arrival=ArrivalSpec(2 * knee, ArrivalKind.CONSTANT),
        stop=StopConditions(max_requests=48),
        output_tokens=Fixed(16),
    )
    result, records = await run(demo, load)
    assert all(r.ok for r in records)
    ordered = sorted(records, key=lambda r: r.started_at_s)
    first = [r.ttft_s or 0 for r in ordered[:4]]  # found free slots
    last = [r.ttft_s or 0 for r in ordered[-8:]]
    assert max(first) < 0.1
    assert min(last) > 1.0  # queued behind ~24 requests at ~7.7/s
    summary = result.models[CAP].summary
    assert summary is not None and summary.load is not None
    assert summary.request_throughput is not None
    assert summary.request_throughput == pytest.approx(knee, rel=0.25)


async def test_shared_prefix_is_cached_after_the_first_request(demo: DemoServerThread) -> None:
    """A 1600-token prefix takes 0.4 s to prefill the first time; then it is cached."""
    load = LoadSpec(
        stop=StopConditions(max_requests=4),
        input_tokens=Fixed(1700),
        output_tokens=Fixed(2),
        shared_prefix_tokens=1600,
        seed=8,
    )
    result, records = await run(demo, load)
    ordered = sorted(records, key=lambda r: r.started_at_s)
    assert all(r.ok for r in ordered)
    assert ordered[0].ttft_s is not None and ordered[0].ttft_s > 0.35
    assert all(r.ttft_s is not None and r.ttft_s < 0.15 for r in ordered[1:])
    summary = result.models[CAP].summary
    assert summary is not None and summary.load is not None
    assert summary.load.first_ttft_s is not None and summary.load.later_ttft_p50_s is not None
    assert summary.load.first_ttft_s > 3 * summary.load.later_ttft_p50_s


async def test_an_unstreamed_answer_waits_for_the_engine(demo: DemoServerThread) -> None:
    """With the 4 slots busy on 60-token answers (~2 s at 4 x 30 tok/s), a fifth request,
    unstreamed, waits for a slot: its answer comes after them, not on the fixed schedule
    (11 tokens at 50/s: 0.2 s)."""
    import asyncio
    import time

    import httpx

    def body(tokens: int, stream: bool) -> dict[str, object]:
        messages = [{"role": "user", "content": "hi"}]
        return {"model": CAP, "messages": messages, "max_tokens": tokens, "stream": stream}

    async with httpx.AsyncClient(base_url=demo.url, timeout=30) as client:
        busy = [
            asyncio.create_task(client.post("/v1/chat/completions", json=body(60, False)))
            for _ in range(PARAMS.slots)
        ]
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        response = await client.post("/v1/chat/completions", json=body(11, False))
        took = time.perf_counter() - sent
        await asyncio.gather(*busy)
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 11
    assert took > 1.2  # queued behind four answers of 60 tokens
