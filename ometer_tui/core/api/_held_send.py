"""Requests held until their intended send time, and a thread that sends them on time.

An open loop builds each request a few milliseconds before it is due (see
:mod:`.send_at`). On a connection whose socket the transport can write directly (plain
TCP on Linux: the kernel-reading protocol already holds a duplicate of the socket),
aiohttp's writes go into a :class:`HeldTransport` instead of the loop's transport; once
the request's bytes are complete they are handed to the pool's :class:`SendThread`, which
sleeps until the deadline and writes them to the socket itself.

Why a thread: the event loop that reads the streams in flight runs callbacks of up to a
few milliseconds (a finished run's record, a burst of chunks), and a send due in the
middle of one waited for it (``benchmarks/schedule_lag.py``: p99 4.2 ms at 200
requests/s). The thread needs the interpreter only for the ``send`` call: it gets it
when the loop waits for I/O, or at the loop's next switch point (the engine shortens
Python's switch interval while an open loop runs: ``core/bench/open_loop_policy.py``).

Whatever cannot be held is sent at once through the loop's transport, as before: a
request whose bytes do not say where they end, one larger than :data:`MAX_HELD_BYTES`,
one whose time has already come. A send the thread cannot finish (a full socket buffer,
an error) hands what is left to the loop's transport, which reports the error the usual
way. The thread's own stamp, just before its ``send``, is the request's sent time where
the kernel gives no transmit stamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import socket
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

_perf = time.perf_counter_ns

#: Requests larger than this are written at once (a big vision payload: the socket
#: buffer would not take it in one send anyway).
MAX_HELD_BYTES = 1 << 20
#: Requests whose time is this close (or past) when their bytes are complete are written
#: by the loop at once: handing them to the thread would only add its wake-up.
WRITE_NOW_NS = 50_000
#: The thread wakes this long before a deadline and spins the rest with the interpreter
#: held (waking from a sleep and taking the interpreter back take ~0.1 ms here).
SPIN_NS = 150_000
#: Linux ``prctl(PR_SET_TIMERSLACK, ...)``: the thread's sleeps end within this many ns
#: of their deadline instead of the default 50 us.
_PR_SET_TIMERSLACK = 29
SEND_THREAD_TIMER_SLACK_NS = 1_000


class HeldOwner(Protocol):
    """The protocol whose request is held: its socket duplicate and its transport."""

    transport: Any
    held_sent_ns: int

    @property
    def send_socket(self) -> socket.socket | None: ...


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
    back and sends the bytes: through the thread before the deadline, or at once.
    Everything else is the real transport's.
    """

    def __init__(
        self,
        owner: HeldOwner,
        real: asyncio.Transport,
        due_ns: int,
        sender: SendThread,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._owner = owner
        self._real = real
        self._due = due_ns
        self._sender = sender
        self._loop = loop
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
        # whole: to the thread; its end unknown or too large: at once (more may follow)
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
        sock = owner.send_socket
        if at_once or sock is None or self._due - _perf() <= WRITE_NOW_NS:
            owner.held_sent_ns = _perf()
            self._real.write(data)
            return
        self._sender.submit(self._due, _Job(owner, sock, self._real, data, self._loop))


class _Job:
    __slots__ = ("data", "loop", "owner", "real", "sock")

    def __init__(
        self,
        owner: HeldOwner,
        sock: socket.socket,
        real: asyncio.Transport,
        data: bytes,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.owner = owner
        self.sock = sock
        self.real = real
        self.data = data
        self.loop = loop

    def send(self) -> None:
        """Write the request to the socket now (in the thread); what the socket does not
        take, or an error, goes to the loop's transport."""
        if self.real.is_closing() or self.owner.transport is not self.real:
            return  # closed meanwhile (a cancelled run): nothing to send
        data = self.data
        self.owner.held_sent_ns = _perf()
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the loop's transport meets the same error and reports it
        if sent < len(data):
            rest = data[sent:]
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to report
                self.loop.call_soon_threadsafe(self._write_rest, rest)

    def _write_rest(self, rest: bytes) -> None:
        if not self.real.is_closing():
            self.real.write(rest)


class SendThread:
    """One thread per pool that writes held requests at their deadlines, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, _Job]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: sends made, and how late each was against its deadline (ns), for benchmarks
        self.sent = 0

    def submit(self, due_ns: int, job: _Job) -> None:
        with self._cond:
            if self._stopping:
                job.real.write(job.data)
                return
            heapq.heappush(self._heap, (due_ns, next(self._seq), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ometer-send", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread; requests still waiting are dropped (their connections are
        being closed with the pool)."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def _run(self) -> None:
        _tight_timer_slack()
        cond, heap = self._cond, self._heap
        while True:
            with cond:
                while True:
                    if self._stopping:
                        return
                    if heap:
                        due = heap[0][0]
                        wait = due - SPIN_NS - _perf()
                        if wait <= 0:
                            _, _, job = heapq.heappop(heap)
                            break
                        cond.wait(wait / 1e9)
                    else:
                        cond.wait()
            while _perf() < due:  # the last few microseconds, holding the interpreter
                pass
            job.send()
            self.sent += 1


def _tight_timer_slack() -> None:
    """Ask Linux to end this thread's sleeps within a microsecond (best effort)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_TIMERSLACK, SEND_THREAD_TIMER_SLACK_NS, 0, 0, 0)
