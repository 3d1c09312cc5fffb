"""Several endpoints in one benchmark (issue #10 point 6), over real HTTP on loopback.

The demo serves its native (Ollama) API and its OpenAI ``/v1`` API on one port: two
endpoints with the same URL, one per flavour, are the case "the same server through
both APIs side by side".
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent, ModelPhase, RunFinished
from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit, combine_plans, with_all_parts
from ometer_tui.core.bench.result import BenchmarkResult, row_key
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo, TimeoutPolicy
from ometer_tui.demo.server import DemoServerThread

FAST = ModelInfo(name="demo-fast:1b")
MEDIUM = ModelInfo(name="demo-medium:8b")


def native_and_v1(demo: DemoServerThread) -> tuple[Endpoint, Endpoint]:
    """The demo through its native API and through its OpenAI /v1 API."""
    native = Endpoint(name="native", url=demo.url, api=ApiFlavour.OLLAMA, simulated=True)
    return native, replace(native, name="v1", api=ApiFlavour.OPENAI)


def part(endpoint: Endpoint, *models: ModelInfo, passes: int = 2) -> BenchmarkPlan:
    return BenchmarkPlan(endpoint=endpoint, models=models, passes=passes, warmup=1)


async def run(plan: BenchmarkPlan) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, events


def window(result: BenchmarkResult, endpoint: str) -> tuple[float, float]:
    """(first send, last finish) of an endpoint's runs, warm-up included."""
    records = [r for mr in result.models.values() if mr.endpoint == endpoint for r in mr.records]
    return min(r.started_at_s for r in records), max(r.finished_at_s for r in records)


async def test_one_model_on_two_endpoints_gives_two_rows_keyed_by_endpoint(
    demo: DemoServerThread,
) -> None:
    native, v1 = native_and_v1(demo)
    plan = combine_plans([part(native, FAST, MEDIUM), part(v1, FAST, passes=3)])
    assert plan.multi_endpoint and plan.planned_rows == 3
    assert [m.name for m in plan.models] == ["demo-fast:1b", "demo-medium:8b"]
    result, events = await run(plan)

    assert list(result.models) == [
        row_key("native", "demo-fast:1b"),
        row_key("native", "demo-medium:8b"),
        row_key("v1", "demo-fast:1b"),
    ]
    rows = {(mr.endpoint, mr.info.name): mr for mr in result.models.values()}
    for (endpoint, _model), mr in rows.items():
        assert mr.phase is ModelPhase.DONE
        assert mr.summary is not None and mr.summary.errors == 0
        # each endpoint keeps its own plan: v1 was asked for 3 passes, native for 2
        assert mr.summary.ok == (3 if endpoint == "v1" else 2)
    # each endpoint was measured through its own API
    by_path = demo.stats().by_path
    assert by_path["/api/chat"] == 2 * (2 + 1)
    assert by_path["/v1/chat/completions"] == 3 + 1
    assert set(result.servers) == {"native", "v1"}
    assert result.server is result.servers["native"]
    # every row event names its endpoint; folding them gives the engine's rows
    runs = [e for e in events if isinstance(e, RunFinished)]
    assert {e.endpoint for e in runs} == {"native", "v1"}
    fold = ResultFold(plan)
    fold.apply(events)
    assert {k: len(mr.records) for k, mr in fold.result.models.items()} == {
        k: len(mr.records) for k, mr in result.models.items()
    }
    assert fold.requests_done == fold.requests_total == 2 * 3 + 4


async def test_endpoints_run_one_after_the_other_by_default(demo: DemoServerThread) -> None:
    native, v1 = native_and_v1(demo)
    result, _ = await run(combine_plans([part(native, FAST), part(v1, FAST)]))
    native_window, v1_window = window(result, "native"), window(result, "v1")
    assert native_window[1] <= v1_window[0]  # v1's first request after native's last


async def test_endpoints_parallel_runs_them_at_the_same_time(demo: DemoServerThread) -> None:
    native, v1 = native_and_v1(demo)
    plan = combine_plans([part(native, MEDIUM), part(v1, MEDIUM)], parallel=True)
    result, _ = await run(plan)
    native_window, v1_window = window(result, "native"), window(result, "v1")
    # the windows overlap: each started before the other ended
    assert native_window[0] < v1_window[1] and v1_window[0] < native_window[1]


async def test_each_endpoint_keeps_its_own_rate_limit(demo: DemoServerThread) -> None:
    """A tight limit on one endpoint does not slow the other's (parallel: measured by
    the runs' spacing, not by wall time)."""
    native, v1 = native_and_v1(demo)
    limit = RateLimit(requests_per_minute=600)  # one request every 0.1 s
    limited = replace(part(native, FAST, passes=3), concurrency=3, rate_limit=limit)
    free = replace(part(v1, FAST, passes=3), concurrency=3)
    plan = combine_plans([limited, free], parallel=True)
    result, _ = await run(plan)
    native_row = result.models[row_key("native", "demo-fast:1b")]
    queued = [r.queue_s for r in native_row.records]
    assert max(queued) > 0.05  # 3 at once at 600 rpm: the later ones wait their turn
    v1_row = result.models[row_key("v1", "demo-fast:1b")]
    assert all(r.queue_s == 0 for r in v1_row.records)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_endpoint_stops_the_benchmark_before_any_run(
    demo: DemoServerThread,
) -> None:
    native, _ = native_and_v1(demo)
    gone = Endpoint(
        name="gone",
        url=f"http://127.0.0.1:{free_port()}",
        api=ApiFlavour.OLLAMA,
        timeouts=TimeoutPolicy(connect_s=2.0, read_s=2.0, total_s=2.0),
    )
    events: list[BenchmarkEvent] = []
    with pytest.raises(EndpointUnreachable) as caught:
        plan = combine_plans([part(native, FAST), part(gone, FAST)])
        await BenchmarkRunner(plan, events.append).run()
    assert caught.value.endpoint == "gone"
    assert not [e for e in events if isinstance(e, RunFinished)]
    assert "/api/chat" not in demo.stats().by_path


async def test_cancel_keeps_every_endpoints_finished_runs(demo: DemoServerThread) -> None:
    native, v1 = native_and_v1(demo)
    plan = combine_plans([part(native, FAST, passes=2), part(v1, FAST, passes=50)])
    runner: BenchmarkRunner | None = None
    v1_runs = 0

    def on_event(event: BenchmarkEvent) -> None:
        nonlocal v1_runs
        if isinstance(event, RunFinished) and event.endpoint == "v1" and not event.record.warmup:
            v1_runs += 1
            if v1_runs == 2 and runner is not None:
                runner.cancel()

    runner = BenchmarkRunner(plan, on_event)
    result = await asyncio.wait_for(runner.run(), timeout=60)
    assert result.cancelled
    assert result.models[row_key("native", "demo-fast:1b")].phase is ModelPhase.DONE
    cut = result.models[row_key("v1", "demo-fast:1b")]
    assert cut.phase is ModelPhase.CANCELLED
    assert cut.summary is not None and 2 <= cut.summary.ok < 50


def test_one_endpoint_plan_is_unchanged_by_combine() -> None:
    plan = part(Endpoint(name="a", url="http://127.0.0.1:1"), FAST)
    assert combine_plans([plan]) is plan
    assert not plan.multi_endpoint and plan.parts == (plan,)


def test_a_plan_on_several_endpoints_validates_each_and_names_it() -> None:
    a = part(Endpoint(name="a", url="http://127.0.0.1:1"), FAST)
    b = replace(part(Endpoint(name="b", url="http://127.0.0.1:2"), FAST), passes=0)
    problems = combine_plans([a, b]).validate()
    assert problems == ["b: passes: must be at least 1 (got 0)"]
    twice = combine_plans([a, a]).validate()
    assert twice == ["endpoints: two endpoints are named 'a'; names must differ"]
    loaded = with_all_parts(combine_plans([a, replace(b, passes=1)]), passes=4)
    assert [p.passes for p in loaded.parts] == [4, 4] and loaded.passes == 4


async def test_each_endpoint_sends_its_own_token(demo: DemoServerThread) -> None:
    """An open endpoint and one that demands its token, in one benchmark: each client
    carries its own endpoint's auth (the open one's requests carry none)."""
    from ometer_tui.core.secrets import Secret, TokenRef
    from ometer_tui.demo.server import run_in_thread

    token = "sk-only-for-the-locked-endpoint-42"
    with run_in_thread(require_token=token) as locked_server:
        native, _ = native_and_v1(demo)
        locked = Endpoint(
            name="locked", url=locked_server.url, api=ApiFlavour.OPENAI,
            token=TokenRef(value=Secret(token)),
        )  # fmt: skip
        result, _ = await run(combine_plans([part(native, FAST), part(locked, FAST)]))
        assert all(mr.summary and mr.summary.errors == 0 for mr in result.models.values())
        assert locked_server.stats().last_headers.get("authorization") == f"Bearer {token}"
    assert "authorization" not in demo.stats().last_headers
