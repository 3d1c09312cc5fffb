"""The open loop's send: each request's task is handed over ahead of its deadline and
starts the conversation at the deadline (core/bench/runner.py: _LoadRun._send_at)."""

from __future__ import annotations

import time

import pytest

from ometer_tui.core.bench.runner import BenchmarkRunner, _LoadRun
from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_engine_gc import plan


async def test_an_open_loop_request_waits_for_its_deadline_in_its_own_task(
    demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timetable hands each request to its own task ahead of the deadline (within
    the spin window); the task starts the conversation at the deadline, never before:
    at the deadline the send does not wait for a new task's first loop iteration."""
    handed: list[tuple[int, int]] = []  # (when the task ran first, its deadline)
    started: list[tuple[int, int]] = []  # (when the conversation started, its deadline)
    send_at, conversation = _LoadRun._send_at, _LoadRun._conversation

    async def spy_send_at(self: _LoadRun, n: int, due: int) -> None:
        handed.append((time.perf_counter_ns(), due))
        await send_at(self, n, due)

    async def spy_conversation(self: _LoadRun, n: int, due: int | None) -> None:
        assert due is not None
        started.append((time.perf_counter_ns(), due))
        await conversation(self, n, due)

    monkeypatch.setattr(_LoadRun, "_send_at", spy_send_at)
    monkeypatch.setattr(_LoadRun, "_conversation", spy_conversation)
    await BenchmarkRunner(plan(demo.url, 40), lambda e: None).run()
    assert len(started) == len(handed) == 40
    assert all(at >= due for at, due in started)  # never early
    # the machine may be loaded: a sleep can overshoot, but not on every one of 40 waits
    assert any(at < due for at, due in handed)
