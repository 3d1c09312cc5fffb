"""The open loop's send (core/bench/runner.py, core/api/send_at.py, _held_send.py): each
request is started ``SEND_LEAD_NS`` ahead of its time, its bytes are held, and they leave
at that time, never before: written by the pool's timed writer, or, with holding off,
after the request's task waited for the time. The collector policy while an open loop
runs (core/bench/open_loop_policy.py) is put back afterwards."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import replace
from typing import Literal

import pytest

from ometer_tui.core.api import _held_send, _transport
from ometer_tui.core.bench import open_loop_policy
from ometer_tui.core.bench import runner as runner_module
from ometer_tui.core.bench.events import BenchmarkEvent, RunFinished
from ometer_tui.core.bench.runner import SEND_LEAD_NS, BenchmarkRunner, _LoadRun
from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_engine_gc import plan

#: the kernel's stamps are mapped from the realtime clock: a few microseconds of error
CLOCK_SLACK_S = 50e-6


def spy_submits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dues: list[int] = []
    submit = _held_send.TimedWriter.submit

    def spy(self: _held_send.TimedWriter, due_ns: int, job: _held_send._Job) -> None:
        dues.append(due_ns)
        submit(self, due_ns, job)

    monkeypatch.setattr(_held_send.TimedWriter, "submit", spy)
    return dues


async def test_requests_start_ahead_and_leave_at_their_time_from_the_timed_writer(
    demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, int]] = []  # (when the conversation started, its send time)
    conversation = _LoadRun._conversation

    async def spy_conversation(self: _LoadRun, n: int, due: int | None) -> None:
        assert due is not None
        started.append((time.perf_counter_ns(), due))
        await conversation(self, n, due)

    monkeypatch.setattr(_LoadRun, "_conversation", spy_conversation)
    held = spy_submits(monkeypatch)
    result = await BenchmarkRunner(plan(demo.url, 40), lambda e: None).run()
    records = result.models["demo-fast:1b"].records
    assert len(records) == len(started) == 40 and all(r.ok for r in records)
    # started ahead: the timetable hands a request over SEND_LEAD_NS before its time
    # (a loaded machine may wake late, but not for every one of 40)
    assert any(due - at > SEND_LEAD_NS // 2 for at, due in started)
    # held and written at their time (one whose bytes were ready only after its time, on
    # a loaded machine, is written at once: never all of them)
    assert held
    for r in records:
        assert r.load is not None and r.load.schedule_lag_s is not None
        assert r.load.schedule_lag_s >= -CLOCK_SLACK_S  # never early
        assert r.send_clock == "kernel"


async def test_with_holding_off_the_requests_task_waits_for_the_time(
    demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding switched off (the A/B switch): the request's task waits for its time in
    the loop, then sends."""
    monkeypatch.setattr(_transport, "held_sends_enabled", False)
    held = spy_submits(monkeypatch)
    result = await BenchmarkRunner(plan(demo.url, 20), lambda e: None).run()
    records = result.models["demo-fast:1b"].records
    assert len(records) == 20 and all(r.ok for r in records)
    assert held == []
    for r in records:
        assert r.load is not None and r.load.schedule_lag_s is not None
        assert r.load.schedule_lag_s >= -CLOCK_SLACK_S  # never early


async def test_the_collector_policy_holds_during_an_open_loop_and_is_put_back(
    demo: DemoServerThread,
) -> None:
    seen: list[bool] = []

    def on_event(event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished) and not event.record.warmup:
            seen.append(gc.isenabled())

    assert gc.isenabled()
    await BenchmarkRunner(plan(demo.url, 10), on_event).run()
    # every request, the last included: the policy lasts until the last one is done
    assert seen == [False] * 10
    assert gc.isenabled()


def test_the_policy_is_put_back_after_an_error_and_when_nested() -> None:
    with pytest.raises(RuntimeError), open_loop_policy.open_loop_policy():
        with open_loop_policy.open_loop_policy():
            pass
        assert not gc.isenabled()  # the inner one's end does not undo the outer's
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_young_collections_run_in_the_timetables_gaps() -> None:
    with open_loop_policy.open_loop_policy() as collector:
        # tracked objects: the count rises (twice what is needed: another thread of the
        # process, the demo server's, may free some meanwhile)
        keep = [[] for _ in range(collector.threshold * 2)]
        assert gc.get_count()[0] >= collector.threshold
        collector.idle(open_loop_policy.GC_ROOM_NS - 1)  # a send due too soon: not now
        assert (collector.in_gaps, collector.forced) == (0, 0)
        collector.idle(open_loop_policy.GC_ROOM_NS)  # room enough
        assert (collector.in_gaps, collector.forced) == (1, 0)
        assert gc.get_count()[0] < collector.threshold
        collector.idle(None)  # nothing due, but nothing new to collect either
        assert collector.in_gaps == 1
        keep += [[] for _ in range(collector.threshold * open_loop_policy.FORCE_AFTER * 2)]
        assert gc.get_count()[0] >= collector.threshold * open_loop_policy.FORCE_AFTER
        collector.idle(0)  # no gap came while that much piled up: collected anyway
        assert collector.forced == 1
    assert len(keep) > 0


async def test_with_a_concurrency_cap_a_slot_is_taken_at_the_send_time_not_ahead(
    demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--max-concurrency`` caps requests on the wire: a request started ahead of its
    time must not hold a slot before it (that would lower the cap for the others)."""
    due_of: dict[object, int] = {}
    taken: list[tuple[object, int]] = []
    conversation = _LoadRun._conversation

    async def spy_conversation(self: _LoadRun, n: int, due: int | None) -> None:
        assert due is not None
        due_of[asyncio.current_task()] = due
        await conversation(self, n, due)

    class SpySemaphore(asyncio.Semaphore):
        async def acquire(self) -> Literal[True]:
            got = await super().acquire()
            taken.append((asyncio.current_task(), time.perf_counter_ns()))
            return got

    monkeypatch.setattr(_LoadRun, "_conversation", spy_conversation)
    monkeypatch.setattr(runner_module.asyncio, "Semaphore", SpySemaphore)
    capped = plan(demo.url, 10)
    assert capped.load is not None
    capped = replace(capped, load=replace(capped.load, max_concurrency=5))
    result = await BenchmarkRunner(capped, lambda e: None).run()
    assert len(result.models["demo-fast:1b"].records) == 10
    slots = [(task, at) for task, at in taken if task in due_of]
    assert len(slots) == 10
    assert all(at >= due_of[task] for task, at in slots)
