"""Requests held until their intended send time, and written by the loop at that time.

An open loop builds each request a few milliseconds before it is due (see
:mod:`.send_at`): the payload, httpx, the pool, the connection. aiohttp's writes then go
into a :class:`HeldTransport` instead of the connection's transport; once the request's
bytes are complete they are handed to the pool's :class:`TimedWriter`, which writes them
to the real transport at the deadline from a loop callback: a timer until
:data:`SPIN_WINDOW_NS` before it (the loop's timers round to the millisecond), then a
check at every loop iteration; the engine also checks at points inside its long
stretches of work (each body chunk it reads: :meth:`TimedWriter.write_due`). At the
deadline only the socket write is left, so a send waits at most for the piece of work the
loop is doing then, not for a request to be built.

Measured by ``benchmarks/schedule_lag.py`` (200 requests/s, 2 cores): a send thread of
its own (tried first) sent the median request within 3 us, but its tail was worse than
the loop's (p99 3-4.5 ms against 2.5-2.8): the thread needs the interpreter at the
deadline, and gets it only when the loop thread lets it go.

Whatever cannot be held is written at once, as before: a request whose bytes do not say
where they end, one larger than :data:`MAX_HELD_BYTES`, one whose time has already come.
The stamp just before the write is the request's sent time where the kernel gives no
transmit stamp.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Iterable
from typing import Any, Protocol

_perf = time.perf_counter_ns

#: Requests larger than this are written at once (a big vision payload).
MAX_HELD_BYTES = 1 << 20
#: Requests whose time is this close (or past) when their bytes are complete are written
#: at once.
WRITE_NOW_NS = 20_000
#: The writer's timer fires this long before a deadline; from there it checks at every
#: loop iteration (uvloop's timers round to the millisecond, and fire up to 1 ms late).
SPIN_WINDOW_NS = 1_200_000


class HeldOwner(Protocol):
    """The protocol whose request is held: its transport and the held send's stamp."""

    transport: Any
    held_sent_ns: int


def request_end(data: bytes) -> int | None:
    """The length of the HTTP/1.1 request at the start of ``data`` once its headers are
    complete: headers plus ``Content-Length`` (or no body). ``-1`` while the headers are
    still coming; ``None`` when the request's end cannot be told from its headers
    (chunked, or a length that does not parse)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return -1
    head_len = head_end + 4
    length = 0
    for line in data[:head_end].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower()
        if key == b"transfer-encoding":
            return None
        if key == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
            if length < 0:
                return None
    return head_len + length


class HeldTransport:
    """Stands in for a connection's transport while its request waits for its time.

    Collects aiohttp's writes; when they make a whole request, puts the real transport
    back and sends the bytes: through the writer before the deadline, or at once.
    Everything else is the real transport's.
    """

    def __init__(
        self,
        owner: HeldOwner,
        real: asyncio.Transport,
        due_ns: int,
        writer: TimedWriter,
    ) -> None:
        self._owner = owner
        self._real = real
        self._due = due_ns
        self._writer = writer
        self._buf = bytearray()
        self._released = False
        #: the request's length once its headers are in (-1 before; None: not known)
        self._end: int | None = -1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._released:
            self._real.write(data)
            return
        self._buf += data
        self._check()

    def writelines(self, parts: Iterable[bytes | bytearray | memoryview]) -> None:
        for part in parts:
            self.write(part)

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _check(self) -> None:
        if self._end == -1:
            self._end = request_end(bytes(self._buf))
        end, have = self._end, len(self._buf)
        if have <= MAX_HELD_BYTES and (end == -1 or (end is not None and have < end)):
            return  # the headers or the body are still coming
        # whole: to the writer; its end unknown or too large: at once (more may follow)
        self.release(at_once=end is None or end == -1 or have > MAX_HELD_BYTES)

    def release(self, at_once: bool = False) -> None:
        """Put the real transport back and send what was collected (see the class):
        ``at_once`` through the loop's transport, now."""
        if self._released:
            return
        self._released = True
        owner = self._owner
        if owner.transport is self:
            owner.transport = self._real
        data, self._buf = bytes(self._buf), bytearray()
        if not data:
            return
        job = _Job(owner, self._real, data)
        if at_once or self._due - _perf() <= WRITE_NOW_NS:
            job.send()
        else:
            self._writer.submit(self._due, job)


class _Job:
    __slots__ = ("data", "owner", "real")

    def __init__(self, owner: HeldOwner, real: asyncio.Transport, data: bytes) -> None:
        self.owner = owner
        self.real = real
        self.data = data

    def send(self) -> None:
        """Write the request now; nothing if its connection closed meanwhile (a
        cancelled run)."""
        if self.real.is_closing() or self.owner.transport is not self.real:
            return
        self.owner.held_sent_ns = _perf()
        self.real.write(self.data)


class TimedWriter:
    """One per pool: writes held requests at their deadlines, earliest first, from the
    event loop (see the module)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[int, int, _Job]] = []
        self._seq = itertools.count()
        self._handle: asyncio.Handle | None = None
        self._armed_for: int | None = None
        #: requests written at their deadline (tests, benchmarks)
        self.sent = 0

    def submit(self, due_ns: int, job: _Job) -> None:
        heapq.heappush(self._heap, (due_ns, next(self._seq), job))
        if self._armed_for is None or due_ns < self._armed_for:
            self._arm()

    def write_due(self) -> None:
        """A send checkpoint: write now what is due (the engine calls this inside its long
        stretches of work on the loop, as it reads bodies: a deadline that comes then does
        not wait for the stretch to end). Costs a clock read when nothing is due."""
        heap = self._heap
        if heap and heap[0][0] <= _perf():
            self._write_due_now()
            self._arm()

    def _write_due_now(self) -> int:
        """Write every request whose time has come, earliest first; returns the clock."""
        heap = self._heap
        now = _perf()
        while heap and heap[0][0] <= now:
            _, _, job = heapq.heappop(heap)
            job.send()
            self.sent += 1
            now = _perf()
        return now

    def close(self) -> None:
        """Drop what is waiting (its connections are being closed with the pool)."""
        self._heap.clear()
        self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._heap:
            self._armed_for = None
            return
        due = self._armed_for = self._heap[0][0]
        delay = due - SPIN_WINDOW_NS - _perf()
        loop = self._loop
        if delay > 0:
            self._handle = loop.call_later(delay / 1e9, self._tick)
        else:
            self._handle = loop.call_soon(self._tick)

    def _tick(self) -> None:
        self._handle = None
        heap = self._heap
        now = self._write_due_now()
        if heap and heap[0][0] - now <= SPIN_WINDOW_NS:
            # the next deadline is near: look again at the loop's next iteration
            self._armed_for = heap[0][0]
            self._handle = self._loop.call_soon(self._tick)
        else:
            self._arm()
