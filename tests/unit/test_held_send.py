"""Requests held until their send time (core/api/_held_send.py): where a request ends,
the stand-in transport that collects aiohttp's writes, and the loop's timed writer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ometer_tui.core.api import _held_send
from ometer_tui.core.api._held_send import (
    MAX_HELD_BYTES,
    HeldTransport,
    TimedWriter,
    request_end,
)

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"


def test_request_end_is_the_headers_plus_the_content_length() -> None:
    assert request_end(HEAD) == len(HEAD) + 5
    assert request_end(HEAD + b"hel") == len(HEAD) + 5
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert request_end(get) == len(get)
    odd = b"POST / HTTP/1.1\r\ncontent-LENGTH:  12 \r\n\r\n"
    assert request_end(odd) == len(odd) + 12


def test_request_end_waits_for_the_headers_and_gives_up_on_what_it_cannot_tell() -> None:
    assert request_end(b"POST / HTTP/1.1\r\nContent-Le") == -1
    assert request_end(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") is None
    assert request_end(b"POST / HTTP/1.1\r\nContent-Length: five\r\n\r\n") is None
    assert request_end(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") is None


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[tuple[int, bytes]] = []  # (when, what)
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append((time.perf_counter_ns(), bytes(data)))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"

    @property
    def data(self) -> list[bytes]:
        return [d for _, d in self.written]


class Owner:
    def __init__(self) -> None:
        self.transport: Any = None
        self.held_sent_ns = 0


class RecordingWriter(TimedWriter):
    def __init__(self) -> None:
        super().__init__(asyncio.new_event_loop())
        self.jobs: list[tuple[int, Any]] = []

    def submit(self, due_ns: int, job: Any) -> None:
        self.jobs.append((due_ns, job))


Held = tuple[HeldTransport, Owner, FakeTransport, RecordingWriter]


def held(due_ns: int) -> Held:
    owner, real, writer = Owner(), FakeTransport(), RecordingWriter()
    proxy = HeldTransport(owner, real, due_ns, writer)  # type: ignore[arg-type]
    owner.transport = proxy
    return proxy, owner, real, writer


def test_a_request_is_collected_until_whole_then_handed_to_the_writer() -> None:
    due = time.perf_counter_ns() + 10**9
    proxy, owner, real, writer = held(due)
    proxy.write(HEAD[:10])
    proxy.writelines([HEAD[10:], b"he"])
    assert writer.jobs == [] and real.written == []  # not whole yet
    assert owner.transport is proxy
    assert proxy.get_extra_info("peername") == "extra peername"  # the rest is the real one's
    proxy.write(b"llo")
    current: Any = owner.transport
    assert current is real  # put back once whole
    assert real.written == []
    [(job_due, job)] = writer.jobs
    assert job_due == due and job.data == HEAD + b"hello"
    proxy.write(b"later")  # anything after goes straight through
    assert real.data == [b"later"]


def test_a_request_whose_time_has_come_is_written_at_once() -> None:
    proxy, owner, real, writer = held(time.perf_counter_ns() - 1)
    proxy.write(HEAD + b"hello")
    assert real.data == [HEAD + b"hello"] and writer.jobs == []
    current: Any = owner.transport
    assert owner.held_sent_ns > 0 and current is real


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_a_request_whose_end_is_unknown_is_written_at_once(data: bytes) -> None:
    proxy, _owner, real, writer = held(time.perf_counter_ns() + 10**9)
    proxy.write(data)
    assert real.data == [data] and writer.jobs == []


def test_a_request_larger_than_the_cap_is_written_at_once() -> None:
    proxy, _owner, real, writer = held(time.perf_counter_ns() + 10**9)
    big = MAX_HELD_BYTES + 10
    proxy.write(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % big)
    proxy.write(b"x" * (MAX_HELD_BYTES + 1))
    assert writer.jobs == [] and sum(map(len, real.data)) > MAX_HELD_BYTES


async def test_the_writer_writes_at_the_deadline_never_before_earliest_first() -> None:
    writer = TimedWriter(asyncio.get_running_loop())
    start = time.perf_counter_ns()
    dues = [start + d for d in (60_000_000, 20_000_000, 40_000_000)]  # out of order
    owners = []
    real = FakeTransport()
    for i, due in enumerate(dues):
        owner = Owner()
        owner.transport = real
        owners.append(owner)
        writer.submit(due, _held_send._Job(owner, real, b"%d" % i))  # type: ignore[arg-type]
    for _ in range(400):
        if len(real.written) == 3:
            break
        await asyncio.sleep(0.005)
    assert real.data == [b"1", b"2", b"0"]  # earliest deadline first
    for (at, data), due in zip(real.written, sorted(dues), strict=True):
        assert at >= due, data  # never early
    for owner, due in zip(owners, dues, strict=True):
        assert owner.held_sent_ns >= due
    assert writer.sent == 3


async def test_a_connection_closed_meanwhile_writes_nothing() -> None:
    writer = TimedWriter(asyncio.get_running_loop())
    owner, real = Owner(), FakeTransport()
    owner.transport = None  # connection_lost: the protocol dropped its transport
    writer.submit(time.perf_counter_ns() + 2_000_000, _held_send._Job(owner, real, b"x"))  # type: ignore[arg-type]
    closing_owner, closing = Owner(), FakeTransport()
    closing_owner.transport, closing.closing = closing, True
    writer.submit(time.perf_counter_ns() + 2_000_000, _held_send._Job(closing_owner, closing, b"y"))  # type: ignore[arg-type]
    for _ in range(200):
        if writer.sent == 2:
            break
        await asyncio.sleep(0.005)
    assert writer.sent == 2
    assert real.written == [] and closing.written == [] and owner.held_sent_ns == 0


async def test_closing_the_writer_drops_what_waits() -> None:
    writer = TimedWriter(asyncio.get_running_loop())
    owner, real = Owner(), FakeTransport()
    owner.transport = real
    writer.submit(time.perf_counter_ns() + 20_000_000, _held_send._Job(owner, real, b"x"))  # type: ignore[arg-type]
    writer.close()
    await asyncio.sleep(0.05)
    assert real.written == [] and writer.sent == 0


async def test_a_send_checkpoint_writes_what_is_due_at_once_and_rearms() -> None:
    """``write_due`` (called inside the engine's long stretches of work) writes a request
    whose time has come without waiting for the loop's next iteration, and leaves the
    later one to the timer."""
    writer = TimedWriter(asyncio.get_running_loop())
    real = FakeTransport()
    owners = [Owner(), Owner()]
    for owner in owners:
        owner.transport = real
    now = time.perf_counter_ns()
    writer.submit(now + 3_000_000, _held_send._Job(owners[0], real, b"soon"))  # type: ignore[arg-type]
    writer.submit(now + 60_000_000, _held_send._Job(owners[1], real, b"later"))  # type: ignore[arg-type]
    writer.write_due()
    assert real.written == []  # nothing due yet: a clock read, nothing else
    while time.perf_counter_ns() < now + 3_000_000:  # no loop turn on purpose
        pass
    writer.write_due()  # synchronously, the loop never ran meanwhile
    assert real.data == [b"soon"] and writer.sent == 1
    for _ in range(400):
        if writer.sent == 2:
            break
        await asyncio.sleep(0.005)
    assert real.data == [b"soon", b"later"]
    assert real.written[1][0] >= now + 60_000_000


async def test_every_read_checkpoint_is_a_send_checkpoint() -> None:
    from ometer_tui.core.api._transport import ReadySockets

    calls: list[int] = []

    class Counting(TimedWriter):
        def write_due(self) -> None:
            calls.append(1)

    ready = ReadySockets(asyncio.get_running_loop())
    try:
        ready.writer = Counting(asyncio.get_running_loop())
        ready.read_ready_every(10**12)  # no read now (gap not passed): still a send check
        ready.read_ready()
        assert len(calls) == 2
    finally:
        ready.close()
