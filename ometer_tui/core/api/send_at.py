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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
