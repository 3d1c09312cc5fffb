"""When the request being sent in this task is due to leave (an open loop's timetable).

An open-loop benchmark knows each request's intended send time in advance. Its task
starts the request a few milliseconds early (payload, httpx, the pool, the connection)
inside :func:`send_at`, and the transport holds the finished bytes until that time
(:mod:`._held_send`): at the deadline only the socket write is left, and on a plain TCP
connection a thread of its own makes it, so the event loop's other work (the streams in
flight, the records of finished runs) does not delay the send.

The time travels in a context variable because it concerns the transport alone: every
client (OpenAI, Ollama, custom) sends through the same pool, and none of them needs to
know. A time already past means "send now" (a retry, a redirect, a request that waited
for a slot).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ometer_tui.core.api._held_send import SPIN_WINDOW_NS

#: ``time.perf_counter_ns()`` at which the request being sent in this task is due
SEND_AT_NS: ContextVar[int | None] = ContextVar("ometer_send_at_ns", default=None)


@contextmanager
def send_at(due_ns: int | None) -> Iterator[None]:
    """Requests sent inside are held until ``due_ns`` (``perf_counter_ns``; ``None``:
    at once)."""
    token = SEND_AT_NS.set(due_ns)
    try:
        yield
    finally:
        SEND_AT_NS.reset(token)


async def wait_until(due_ns: int) -> None:
    """Wait for ``due_ns`` (``perf_counter_ns``) in the loop: a sleep to
    :data:`SPIN_WINDOW_NS` before it (the loop's timers round to the millisecond), then a
    yield at every loop iteration until it comes."""
    perf = time.perf_counter_ns
    delay = due_ns - perf()
    if delay > SPIN_WINDOW_NS:
        await asyncio.sleep((delay - SPIN_WINDOW_NS) / 1e9)
    while perf() < due_ns:  # noqa: ASYNC110 (a deadline, not an event)
        await asyncio.sleep(0)
