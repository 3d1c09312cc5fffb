"""Requests held until their send time (core/api/_held_send.py): where a request ends,
the stand-in transport that collects aiohttp's writes, and the thread that sends them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import pytest

from ometer_tui.core.api import _held_send
from ometer_tui.core.api._held_send import (
    MAX_HELD_BYTES,
    HeldTransport,
    SendThread,
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
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


class Owner:
    def __init__(self, sock: socket.socket | None) -> None:
        self.transport: Any = None
        self.held_sent_ns = 0
        self._sock = sock

    @property
    def send_socket(self) -> socket.socket | None:
        return self._sock


class RecordingSender(SendThread):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[tuple[int, Any]] = []

    def submit(self, due_ns: int, job: Any) -> None:
        self.jobs.append((due_ns, job))


Held = tuple[HeldTransport, Owner, FakeTransport, RecordingSender]


def held(due_ns: int, sock: socket.socket | None = None) -> Held:
    owner, real, sender = Owner(sock), FakeTransport(), RecordingSender()
    proxy = HeldTransport(owner, real, due_ns, sender, asyncio.new_event_loop())  # type: ignore[arg-type]
    owner.transport = proxy
    return proxy, owner, real, sender


def test_a_request_is_collected_until_whole_then_handed_to_the_thread() -> None:
    a, b = socket.socketpair()
    with a, b:
        due = time.perf_counter_ns() + 10**9
        proxy, owner, real, sender = held(due, a)
        proxy.write(HEAD[:10])
        proxy.writelines([HEAD[10:], b"he"])
        assert sender.jobs == [] and real.written == []  # not whole yet
        assert owner.transport is proxy
        assert proxy.get_extra_info("peername") == "extra peername"  # the rest is the real one's
        proxy.write(b"llo")
        assert owner.transport is real  # put back once whole
        assert real.written == []
        [(job_due, job)] = sender.jobs
        assert job_due == due and job.data == HEAD + b"hello"
        proxy.write(b"later")  # anything after goes straight through
        assert real.written == [b"later"]


def test_a_request_whose_time_has_come_is_written_at_once() -> None:
    a, b = socket.socketpair()
    with a, b:
        proxy, owner, real, sender = held(time.perf_counter_ns() - 1, a)
        proxy.write(HEAD + b"hello")
        assert real.written == [HEAD + b"hello"] and sender.jobs == []
        assert owner.held_sent_ns > 0 and owner.transport is real


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_a_request_whose_end_is_unknown_is_written_at_once(data: bytes) -> None:
    a, b = socket.socketpair()
    with a, b:
        proxy, _owner, real, sender = held(time.perf_counter_ns() + 10**9, a)
        proxy.write(data)
        assert real.written == [data] and sender.jobs == []


def test_a_request_larger_than_the_cap_is_written_at_once() -> None:
    a, b = socket.socketpair()
    with a, b:
        proxy, _owner, real, sender = held(time.perf_counter_ns() + 10**9, a)
        big = MAX_HELD_BYTES + 10
        proxy.write(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % big)
        proxy.write(b"x" * (MAX_HELD_BYTES + 1))
        assert sender.jobs == [] and sum(map(len, real.written)) > MAX_HELD_BYTES


def test_without_a_socket_to_write_the_loop_writes_it() -> None:
    proxy, _owner, real, sender = held(time.perf_counter_ns() + 10**9, None)
    proxy.write(HEAD + b"hello")
    assert real.written == [HEAD + b"hello"] and sender.jobs == []


async def test_the_thread_sends_at_the_deadline_never_before() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    sender = SendThread()
    try:
        loop = asyncio.get_running_loop()
        owners = []
        start = time.perf_counter_ns()
        dues = [start + d for d in (60_000_000, 20_000_000, 40_000_000)]  # out of order
        for i, due in enumerate(dues):
            owner, real = Owner(a), FakeTransport()
            owner.transport = real
            owners.append(owner)
            sender.submit(due, _held_send._Job(owner, a, real, b"%d" % i, loop))  # type: ignore[arg-type]
        got = b""
        while len(got) < 3:
            await asyncio.sleep(0.01)
            b.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                got += b.recv(10)
        assert got == b"120"  # earliest deadline first
        for owner, due in zip(owners, dues, strict=True):
            assert owner.held_sent_ns >= due  # never early
        assert sender.sent == 3
    finally:
        sender.close()
        a.close()
        b.close()


async def test_what_the_socket_does_not_take_goes_to_the_loop() -> None:
    """A send that fails (or is partial) hands the rest to the loop's transport, which
    reports the error the usual way."""
    a, b = socket.socketpair()
    b.close()  # the peer is gone: the send fails
    sender = SendThread()
    try:
        loop = asyncio.get_running_loop()
        owner, real = Owner(a), FakeTransport()
        owner.transport = real
        sender.submit(time.perf_counter_ns(), _held_send._Job(owner, a, real, b"data", loop))  # type: ignore[arg-type]
        for _ in range(200):
            if real.written:
                break
            await asyncio.sleep(0.005)
        assert real.written == [b"data"]
    finally:
        sender.close()
        a.close()


async def test_a_connection_closed_meanwhile_sends_nothing() -> None:
    a, b = socket.socketpair()
    sender = SendThread()
    try:
        loop = asyncio.get_running_loop()
        owner, real = Owner(a), FakeTransport()
        owner.transport = None  # connection_lost: the protocol dropped its transport
        sender.submit(time.perf_counter_ns(), _held_send._Job(owner, a, real, b"data", loop))  # type: ignore[arg-type]
        for _ in range(100):
            if sender.sent:
                break
            await asyncio.sleep(0.005)
        assert sender.sent == 1
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(10)
        assert real.written == [] and owner.held_sent_ns == 0
    finally:
        sender.close()
        a.close()
        b.close()


def test_closing_the_sender_stops_its_thread() -> None:
    sender = SendThread()
    a, b = socket.socketpair()
    with a, b:
        loop = asyncio.new_event_loop()
        try:
            owner, real = Owner(a), FakeTransport()
            owner.transport = real
            job = _held_send._Job(owner, a, real, b"x", loop)  # type: ignore[arg-type]
            sender.submit(time.perf_counter_ns() + 10**10, job)
            thread = sender._thread
            assert thread is not None and thread.is_alive()
            sender.close()
            assert not thread.is_alive()
        finally:
            loop.close()
