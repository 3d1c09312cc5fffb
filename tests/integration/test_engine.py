"""The engine against the demo endpoint over real HTTP on loopback, both flavours."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import replace

import pytest

from ometer_tui.core.api import open_client
from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    RunFinished,
)
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit, RetryPolicy
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo, TimeoutPolicy
from ometer_tui.demo.catalogue import BY_NAME
from ometer_tui.demo.server import DemoServerThread

FLAVOURS = [ApiFlavour.OLLAMA, ApiFlavour.OPENAI]
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def endpoint_for(demo: DemoServerThread, flavour: ApiFlavour, **changes: object) -> Endpoint:
    ep = Endpoint(name=f"demo-{flavour}", url=demo.url, api=flavour, simulated=True)
    return replace(ep, **changes)  # type: ignore[arg-type]


async def models_named(endpoint: Endpoint, *names: str) -> tuple[ModelInfo, ...]:
    client = open_client(endpoint)
    try:
        listed = {m.name: m for m in await client.list_models(details=True)}
    finally:
        await client.aclose()
    if endpoint.api is ApiFlavour.OPENAI:
        # /v1/models has no capabilities: give the picker's knowledge from the catalogue
        return tuple(
            replace(listed.get(n, ModelInfo(name=n)), capabilities=BY_NAME[n].capabilities)
            if n in BY_NAME
            else ModelInfo(name=n)
            for n in names
        )
    return tuple(listed.get(n, ModelInfo(name=n)) for n in names)


async def run_plan(plan: BenchmarkPlan) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, events


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_reported_ttft_and_decode_rate_match_the_simulated_values(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    """Within a few percent of the simulation, both models streaming at once.

    The demo server shares this process (and its GIL) with the client, so a millisecond
    or two of scheduling delay is expected; the figures of the measurer itself come from
    benchmarks/, not from here.
    """
    endpoint = endpoint_for(demo, flavour)
    names = ("demo-slow:70b", "demo-medium:8b")
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, *names),
        passes=3,
        warmup=1,
        parallel_models=2,
        params=GenerationParams(max_tokens=None),
    )
    result, _ = await run_plan(plan)
    for name in names:
        truth = BY_NAME[name]
        summary = result.models[name].summary
        assert summary is not None and summary.ok == 3
        runs = [r for r in result.models[name].records if not r.warmup]
        assert all(r.output_tokens == truth.output_tokens for r in runs)
        assert all(r.tokens_source == "usage" for r in runs)
        assert summary.metrics["ttft_s"].p50 == pytest.approx(truth.ttft_s, rel=0.05, abs=0.004)
        assert summary.metrics["decode_tps"].p50 == pytest.approx(truth.tokens_per_s, rel=0.03)
        if flavour is ApiFlavour.OLLAMA:
            server_rate = summary.metrics["server_decode_tps"].p50
            assert server_rate == pytest.approx(truth.tokens_per_s)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_warmup_runs_are_marked_and_excluded_and_cold_load_is_flagged(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(demo, flavour)
    truth = BY_NAME["demo-medium:8b"]
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, truth.name),
        passes=2,
        warmup=1,
        params=GenerationParams(max_tokens=4),
    )
    result, events = await run_plan(plan)
    records = result.models[truth.name].records
    warm = [r for r in records if r.warmup]
    assert len(warm) == 1 and warm[0].pass_index == 0
    assert warm[0].ttft_s is not None and warm[0].ttft_s >= truth.ttft_s + truth.load_s
    if flavour is ApiFlavour.OLLAMA:
        assert warm[0].cold and warm[0].load_s == pytest.approx(truth.load_s, rel=0.01)
    summary = result.models[truth.name].summary
    assert summary is not None and summary.runs == 2 and summary.warmup_runs == 1
    assert summary.metrics["ttft_s"].max < truth.ttft_s + truth.load_s
    assert result.warmup_requests == 1
    started = next(e for e in events if isinstance(e, BenchmarkStarted))
    assert started.total_runs == 3 and started.warmup_requests == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_in_flight_requests_never_exceed_the_concurrency_setting(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(demo, flavour)
    models = await models_named(endpoint, "demo-fast:1b", "demo-think:7b")
    demo.reset()
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=models,
        passes=8,
        warmup=0,
        concurrency=3,
        parallel_models=2,
        params=GenerationParams(max_tokens=8),
    )
    result, _ = await run_plan(plan)
    assert all(m.summary is not None and m.summary.ok == 8 for m in result.models.values())
    # the server's own count: 3 per model x 2 models at once, reached and never exceeded
    assert demo.stats().max_in_flight == 6

    demo.reset()
    plan = replace(plan, parallel_models=1)
    await run_plan(plan)
    assert demo.stats().max_in_flight == 3


async def test_request_rate_limit_spaces_requests(demo: DemoServerThread) -> None:
    endpoint = endpoint_for(demo, ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, "demo-fast:1b"),
        passes=5,
        warmup=0,
        concurrency=5,
        rate_limit=RateLimit(requests_per_minute=600),  # 10 per second
        params=GenerationParams(max_tokens=2),
    )
    result, _ = await run_plan(plan)
    starts = sorted(r.started_at_s for r in result.models["demo-fast:1b"].records)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.09  # one permit per 0.1 s (never faster; slower is allowed)
    assert max(r.queue_s for r in result.models["demo-fast:1b"].records) > 0.3


async def test_token_rate_limit_spaces_requests(demo: DemoServerThread) -> None:
    endpoint = endpoint_for(demo, ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, "demo-fast:1b"),
        prompts=("x" * 40,),
        passes=3,
        warmup=0,
        concurrency=3,
        rate_limit=RateLimit(tokens_per_minute=1200),  # 20 tokens/s
        params=GenerationParams(max_tokens=10),
    )  # ~20 tokens a request
    result, _ = await run_plan(plan)
    starts = sorted(r.started_at_s for r in result.models["demo-fast:1b"].records)
    assert starts[-1] - starts[0] >= 1.5  # 2 more requests x ~20 tokens at 20 tokens/s


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_cancel_keeps_finished_runs_and_closes_connections(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(demo, flavour)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, "demo-slow:70b"),
        passes=10,
        warmup=0,
        concurrency=2,
    )
    events: list[BenchmarkEvent] = []
    runner: BenchmarkRunner

    def on_event(event: BenchmarkEvent) -> None:
        events.append(event)
        if isinstance(event, RunFinished):
            runner.cancel()

    runner = BenchmarkRunner(plan, on_event)
    result = await runner.run()
    assert result.cancelled
    entry = result.models["demo-slow:70b"]
    assert 1 <= len(entry.records) < 10
    assert all(r.ok for r in entry.records)
    assert entry.phase is ModelPhase.CANCELLED
    assert isinstance(events[-1], BenchmarkFinished) and events[-1].cancelled
    assert any(isinstance(e, ModelFinished) and e.phase is ModelPhase.CANCELLED for e in events)
    # No request is sent after the cancel: the server saw the finished runs plus at most
    # the one other run that was in flight (concurrency 2) when the first one finished.
    generate_path = "/api/chat" if flavour is ApiFlavour.OLLAMA else "/v1/chat/completions"
    await asyncio.sleep(0.1)  # let anything already on the wire reach the server
    sent = demo.stats().by_path.get(generate_path, 0)
    assert len(entry.records) <= sent <= len(entry.records) + 1
    for _ in range(250):  # the server sees the dropped connection
        if demo.stats().in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert demo.stats().in_flight == 0
    assert demo.stats().by_path.get(generate_path, 0) == sent


async def test_cancel_asked_before_the_task_is_cancelled_still_ends_cancelled(
    demo: DemoServerThread,
) -> None:
    # cancel() from another thread sets the flag at once and cancels the task on the
    # loop's next turn; in between the workers may see the flag and end the task by
    # themselves. Setting only the flag reproduces that interleaving deterministically.
    endpoint = endpoint_for(demo, ApiFlavour.OPENAI)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, "demo-fast:1b", "demo-medium:8b"),
        passes=10,
        warmup=0,
        concurrency=2,
        parallel_models=1,
    )
    events: list[BenchmarkEvent] = []
    runner: BenchmarkRunner

    def on_event(event: BenchmarkEvent) -> None:
        events.append(event)
        if isinstance(event, RunFinished):
            runner._cancel_requested = True  # the flag only, as seen between two threads

    runner = BenchmarkRunner(plan, on_event)
    result = await runner.run()
    assert result.cancelled
    fast, medium = result.models["demo-fast:1b"], result.models["demo-medium:8b"]
    assert 1 <= len(fast.records) <= 2  # the runs in flight finished, none started after
    assert fast.phase is ModelPhase.CANCELLED
    assert medium.records == [] and medium.phase is ModelPhase.CANCELLED  # never started
    finished = [e for e in events if isinstance(e, ModelFinished)]
    assert {e.phase for e in finished} == {ModelPhase.CANCELLED}
    assert isinstance(events[-1], BenchmarkFinished) and events[-1].cancelled


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_retry_after_is_honoured_before_the_first_byte(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(demo, flavour)
    models = await models_named(endpoint, "fault-rate-limited-once", "fault-rate-limited")
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=models,
        passes=1,
        warmup=0,
        retry=RetryPolicy(max_retries=1, base_delay_s=0.01),
    )
    result, _ = await run_plan(plan)
    once = result.models["fault-rate-limited-once"].records[0]
    assert once.ok and once.attempts == 2
    always = result.models["fault-rate-limited"].records[0]
    assert not always.ok and always.attempts == 2 and always.status == 429
    assert always.error and "429" in always.error


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_each_named_fault_is_an_error_on_that_run_only(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(
        demo, flavour, timeouts=TimeoutPolicy(connect_s=2, read_s=0.5, total_s=10)
    )
    expected = {
        "fault-forbidden": ("http", 403),
        "fault-server-error": ("http", 500),
        "fault-error-mid-stream": ("stream", 200),
        "fault-reset": ("reset", 200),
        "fault-stall": ("timeout", 200),
        "fault-truncated": ("incomplete", 200),
    }
    models = await models_named(endpoint, "demo-fast:1b", *expected)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=models,
        passes=1,
        warmup=0,
        parallel_models=len(models),
        retry=RetryPolicy(max_retries=1, base_delay_s=0.01),
    )
    result, _ = await run_plan(plan)
    assert result.models["demo-fast:1b"].records[0].ok
    for name, (kind, status) in expected.items():
        record = result.models[name].records[0]
        assert not record.ok, name
        assert (record.error_kind, record.status) == (kind, status), (name, record.error)
        assert record.error, name
        summary = result.models[name].summary
        assert summary is not None and summary.errors_by_kind == {kind: 1}
        assert result.models[name].phase is ModelPhase.FAILED
    assert result.models["fault-server-error"].records[0].attempts == 2
    assert result.models["fault-forbidden"].records[0].attempts == 1  # 403 is not retried
    partial = result.models["fault-reset"].records[0]
    assert partial.output_tokens == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_reasoning_embeddings_vision_and_completions(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(demo, flavour)
    models = await models_named(endpoint, "demo-think:7b", "demo-embed:335m", "demo-vision:4b")
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=models,
        passes=1,
        warmup=0,
        images=(ImageInput(PNG_1PX),),
        params=GenerationParams(max_tokens=64),
    )
    result, _ = await run_plan(plan)
    think = result.models["demo-think:7b"].records[0]
    truth = BY_NAME["demo-think:7b"]
    assert think.ok and think.ttft_s is not None and think.ttft_visible_s is not None
    assert think.ttft_visible_s - think.ttft_s == pytest.approx(
        truth.reasoning_tokens * truth.interval_s, abs=0.01
    )
    embed = result.models["demo-embed:335m"].records[0]
    assert embed.ok and embed.latency_s is not None and embed.input_tokens
    assert embed.latency_s == pytest.approx(BY_NAME["demo-embed:335m"].ttft_s, abs=0.02)
    vision = result.models["demo-vision:4b"].records[0]
    assert vision.ok and vision.text and f"({len(PNG_1PX)} bytes)" in vision.text

    completion_plan = replace(plan, models=(models[0],), completion_api=True)
    result, _ = await run_plan(completion_plan)
    assert result.models["demo-think:7b"].records[0].ok


async def test_backend_details_and_server_version_are_kept(demo: DemoServerThread) -> None:
    endpoint = endpoint_for(demo, ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=await models_named(endpoint, "demo-fast:1b"),
        passes=1,
        warmup=0,
        params=GenerationParams(max_tokens=2),
    )
    result, _ = await run_plan(plan)
    assert result.server is not None and result.server.version
    assert result.models["demo-fast:1b"].backend["server"].startswith("ometer-demo")
    assert result.simulated


async def test_unreachable_endpoint_raises_before_starting() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = Endpoint(name="nothing", url=f"http://127.0.0.1:{port}", api=ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name="x"),), passes=1, warmup=0)
    events: list[BenchmarkEvent] = []
    with pytest.raises(EndpointUnreachable, match="refused"):
        await BenchmarkRunner(plan, events.append).run()
    assert events == []
