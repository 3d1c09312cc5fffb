"""Retry waits over loopback: a Retry-After above the cap ends the run at once with the
server's figure, no wait runs past the whole-request timeout, and each wait is an event.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent, RunRetrying
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo, TimeoutPolicy
from ometer_tui.demo.server import DemoServerThread

FLAVOURS = [ApiFlavour.OLLAMA, ApiFlavour.OPENAI]
LONG = {
    "fault-http-429-json-retry-after-s-long": "3600",
    "fault-http-503-text-retry-after-ms-long": "3600",
    "fault-http-429-detail-retry-after-date-long": r"(3599|3600|3601)",
}


def plan_for(
    demo: DemoServerThread, flavour: ApiFlavour, *names: str, **changes: object
) -> BenchmarkPlan:
    endpoint = Endpoint(name=f"retry-{flavour}", url=demo.url, api=flavour, simulated=True)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=tuple(ModelInfo(name=n) for n in names),
        passes=1,
        warmup=0,
        parallel_models=len(names),
        params=GenerationParams(max_tokens=4),
    )
    return replace(plan, **changes)


async def run_plan(plan: BenchmarkPlan) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, events


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_retry_after_above_the_cap_ends_the_run_at_once_with_the_servers_figure(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    plan = plan_for(demo, flavour, *LONG)  # the default policy: 2 retries, 30 s cap
    assert plan.retry.max_delay_s == 30 and plan.retry.max_retries == 2
    started = time.monotonic()
    result, events = await run_plan(plan)
    # before the fix each run waited the 30 s cap twice (60 s) and sent 3 requests
    assert time.monotonic() - started < 20
    for name, figure in LONG.items():
        (record,) = result.models[name].records
        assert record.attempts == 1, name
        assert record.error_kind == "http" and record.status in (429, 503), name
        error = record.error or ""
        assert "simulated HTTP" in error, error  # the server's own message is kept
        assert re.search(rf"server asks to wait {figure} s, above the 30 s cap", error), error
    assert not [e for e in events if isinstance(e, RunRetrying)]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_no_retry_wait_runs_past_the_whole_request_timeout(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    asked, backoff = "fault-http-429-json-retry-after-s", "fault-http-500-json"
    plan = plan_for(demo, flavour, asked, backoff)
    endpoint = replace(plan.endpoint, timeouts=TimeoutPolicy(connect_s=2, read_s=2, total_s=0.5))
    # Retry-After: 1 s is under the cap but over the 0.5 s budget; our own backoff of
    # 10-20 s likewise
    plan = replace(plan, endpoint=endpoint, retry=RetryPolicy(max_retries=2, base_delay_s=20))
    started = time.monotonic()
    result, events = await run_plan(plan)
    assert time.monotonic() - started < 10
    (record,) = result.models[asked].records
    assert record.attempts == 1 and record.status == 429
    assert "server asks to wait 1 s, past the 0.5 s request timeout" in (record.error or "")
    (record,) = result.models[backoff].records
    assert record.attempts == 1 and record.status == 500
    assert re.search(r"retry would wait \d+ s, past the 0.5 s request timeout", record.error or "")
    assert not [e for e in events if isinstance(e, RunRetrying)]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_each_granted_wait_is_an_event_with_the_servers_figure(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    name = "fault-http-429-json-retry-after-ms"  # retry-after-ms: 200
    plan = plan_for(demo, flavour, name, retry=RetryPolicy(max_retries=2, base_delay_s=20))
    result, events = await run_plan(plan)
    (record,) = result.models[name].records
    assert record.attempts == 3 and record.status == 429
    waits = [e for e in events if isinstance(e, RunRetrying)]
    assert [(e.model, e.attempt, e.max_attempts) for e in waits] == [(name, 1, 3), (name, 2, 3)]
    for event in waits:
        assert event.wait_s == pytest.approx(0.2) and event.server_asked
        assert event.reason.startswith("429 ") and "simulated HTTP 429" in event.reason
