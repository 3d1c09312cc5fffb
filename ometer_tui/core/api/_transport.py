"""An httpx transport over aiohttp's connection pool, stamping when a request is sent.

Why (measured by benchmarks/accuracy.py, see the README's "How accurate is it"): at 100
streams x 50 tokens/s, httpx's own pool (httpcore) used ~10x the CPU of aiohttp's for
the same traffic on this 2-core machine, took seconds to put 100 concurrent requests on
the wire, and delayed chunk stamps by tens of milliseconds. The clients keep the httpx
API (``httpx.AsyncClient``, ``httpx.Response``, httpx exceptions, which
:mod:`ometer_tui.core.api.errors` reads); only the transport underneath changes.

Timing: the request clock starts when the request is handed to the socket (metrics.md).
An aiohttp trace stamps ``time.perf_counter_ns()`` as the request's bytes are written,
and the response carries it as ``extensions["sent_ns"]``. Stamping before ``send()``
instead would count the pool's own queueing and request building as time to first token
(milliseconds per request when many start at once).

Arrival: every chunk of a body is stamped when its bytes arrived, before any parsing,
not when a reader gets round to it. The body iterator yields the bytes of each read
separately and publishes their stamp as ``extensions["arrival"].ns``; the clients read
it for every chunk. A reader that falls behind (many streams in one burst) therefore
does not delay the stamps.

Which clock stamps a read (``extensions["arrival"].clock``, kept per run):

- ``"kernel"`` (Linux, plain TCP): the kernel's own receive time of the data. The
  connection's socket gets ``SO_TIMESTAMPNS``; the loop's transport stops reading (it
  still writes) and the protocol reads a duplicate of the socket's descriptor itself,
  with ``recvmsg``, whose ancillary data carries the time the newest segment in the read
  reached the socket (on the realtime clock: mapped onto ``perf_counter_ns`` by reading
  both clocks at the read as one instant, :func:`clock_pair`). An event loop that is busy
  or blocked when the bytes arrive (finishing a wave of runs, a repaint, the GC)
  therefore no longer delays the stamp. The kernel's limit: a read that drains several
  segments carries the newest one's time, so a chunk is exact as long as it is read
  before the next chunk arrives, and stamped no later than that next chunk otherwise.
  Hence the read checkpoints of :class:`ReadySockets`: the duplicates of all of a
  pool's sockets sit in one private ``epoll`` that the loop watches (one
  ``add_reader``; works the same on asyncio's selector loops and uvloop), and that the
  engine also polls, without waiting, at each request it sends and while it reads
  bodies, so that a busy loop still reads each socket soon after its data arrives.
- ``"loop"``: when the bytes reach the protocol's ``data_received`` (TLS, which is read
  by the loop's TLS layer; no ``SO_TIMESTAMPNS``; the set-up failed; a read that came
  without a stamp).

Which clock stamps the send (``extensions["send_clock"]``, kept per run): on a socket
read with kernel stamps the protocol also asks for the kernel's software transmit stamps
(``SO_TIMESTAMPING``, ``SOF_TIMESTAMPING_TX_SOFTWARE``, one per ``send`` call, queued
on the socket's error queue and read with ``recvmsg(MSG_ERRQUEUE)`` when the ``epoll``
reports it, and before the response's first read). The newest one before the response
began is the request's last byte leaving the kernel (``"kernel"``); mapped onto
``perf_counter_ns`` as the receive stamps are, it replaces the trace's stamp. Without
one (the fallback above, a kernel without software transmit stamps, a stamp outside the
request's span), the trace's stamp stays (``"loop"``).

aiohttp exceptions are re-raised as the httpx exceptions httpx's own transport would
raise for the same fault, with the original as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import socket
import ssl
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler

from ometer_tui.core.api._held_send import HeldTransport, TimedWriter
from ometer_tui.core.api.send_at import SEND_AT_NS, wait_until

#: Response header lines longer than aiohttp's 8 KB default are accepted, as httpx does.
MAX_HEADER_BYTES = 1 << 16

_perf = time.perf_counter_ns
_real = time.time_ns

#: Two perf_counter reads around the realtime read further apart than this mean the
#: thread was switched out (the GIL, a VM stall) in between: the pair is read again.
CLOCK_PAIR_SPREAD_NS = 20_000
CLOCK_PAIR_TRIES = 3


def clock_pair() -> tuple[int, int]:
    """``(perf_counter_ns, time_ns)`` read as one instant, to map a kernel stamp (on the
    realtime clock) onto ``perf_counter_ns``.

    Whatever passes between two plain reads shifts every stamp mapped with them by as
    much: a switch to another thread holding the GIL (up to its 5 ms interval) or a VM
    stall made a stamp read ~0.5 ms before its bytes were sent. So the realtime read is
    bracketed by two perf reads and the pair read again, up to three times, while they
    are more than 20 us apart; the tightest bracket's midpoint is taken."""
    best_spread, best = -1, (0, 0)
    for _ in range(CLOCK_PAIR_TRIES):
        before = _perf()
        real = _real()
        after = _perf()
        spread = after - before
        if best_spread < 0 or spread < best_spread:
            best_spread, best = spread, ((before + after) // 2, real)
        if spread <= CLOCK_PAIR_SPREAD_NS:
            break
    return best


async def _stamp_sent(session: Any, ctx: SimpleNamespace, _params: Any) -> None:
    holder = ctx.trace_request_ctx
    if holder is not None:
        holder[0] = _perf()
    _read_ready(session)


def _read_ready(session: Any) -> None:
    """A read checkpoint: read the session's sockets that have data waiting (see
    :class:`ReadySockets`)."""
    ready = getattr(session.connector, "ready", None)
    if ready is not None:
        ready.read_ready()


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_stamp_sent)
    config.on_request_chunk_sent.append(_stamp_sent)
    return config


@contextlib.contextmanager
def _mapped(request: httpx.Request, *, reading: bool = False) -> Iterator[None]:
    """aiohttp / OS errors as the httpx exception for the same fault."""
    try:
        yield
    except httpx.HTTPError:
        raise
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        # chained to the OS/TLS/DNS error itself, as httpx's transport does
        raise httpx.ConnectError(str(exc), request=request) from exc.os_error
    except (aiohttp.InvalidUrlClientError, aiohttp.NonHttpUrlClientError) as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(
            str(exc) or "server disconnected without sending a complete response",
            request=request,
        ) from exc
    except aiohttp.ClientResponseError as exc:  # not a valid HTTP response
        raise httpx.RemoteProtocolError(exc.message or str(exc), request=request) from exc
    except (aiohttp.ClientOSError, ConnectionError) as exc:
        cls = httpx.ReadError if reading else httpx.WriteError
        raise cls(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc


#: Arrival marks kept per response; for a reader that far behind, the newest two are
#: merged (the newer stamp for both: what the kernel does for a read that came late).
MAX_ARRIVAL_MARKS = 4096
#: Responses of one connection whose marks the protocol keeps for their bodies to claim
#: (a body claims its own when its headers come back, long before the next response).
MAX_MARKED_RESPONSES = 4

#: Linux's ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``; Python's socket module does not name
#: it). 35 on the common architectures; others (alpha, mips, parisc, sparc) use other
#: numbers, so kernel stamps are used only where this value is known to be right.
_KERNEL_STAMP_ARCHES = ("x86_64", "i686", "i386", "aarch64", "arm", "riscv64", "ppc64", "s390x")
SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", None) or (
    35 if sys.platform == "linux" and os.uname().machine.startswith(_KERNEL_STAMP_ARCHES) else None
)
#: Linux's ``SO_TIMESTAMPING`` (= ``SCM_TIMESTAMPING``), on the same architectures.
SO_TIMESTAMPING: int | None = getattr(socket, "SO_TIMESTAMPING", None) or (
    37 if SO_TIMESTAMPNS is not None else None
)
#: ``SOF_TIMESTAMPING_TX_SOFTWARE | SOFTWARE | OPT_ID | OPT_TSONLY``: a software stamp
#: when each ``send`` call's last byte leaves the kernel, reported on the error queue
#: with a byte counter and without a copy of the data.
TX_STAMP_FLAGS = (1 << 1) | (1 << 4) | (1 << 7) | (1 << 11)
#: ``struct timespec`` as the kernel writes it in the ancillary data.
_TIMESPEC = struct.Struct("@ll")
#: ``struct sock_extended_err``: errno, origin, type, code, pad, info, data.
_EXTENDED_ERR = struct.Struct("=IBBBBII")
#: ``SO_EE_ORIGIN_TIMESTAMPING`` and ``SCM_TSTAMP_SND`` (the stamp of the send itself)
_ORIGIN_TIMESTAMPING = 4
_TSTAMP_SND = 0
#: the error queue's ``sock_extended_err`` cmsg: ``(SOL_IP, IP_RECVERR)``,
#: ``(SOL_IPV6, IPV6_RECVERR)``
_RECVERR = frozenset({(0, 11), (41, 25)})
#: a read's ancillary data: the ``SO_TIMESTAMPNS`` stamp, and the three timespecs of
#: ``SCM_TIMESTAMPING`` that a socket with transmit stamps on also gets for each read
_ANCILLARY_BYTES = (
    socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(3 * _TIMESPEC.size)
    if SO_TIMESTAMPNS
    else 0
)
#: an error-queue message: both stamps and the extended error with its address
_ERRQUEUE_ANCILLARY_BYTES = 256
#: Transmit stamps read from the error queue at most, in one go.
MAX_TX_STAMPS_PER_READ = 64
#: Bytes asked of one read: 64 KiB, as uvloop reads. Not asyncio's 256 KiB: Python
#: allocates the whole size for each ``recvmsg``, and at 256 KiB that is an mmap and
#: munmap per read (28 us against 2.7 us per small read, measured here).
READ_BYTES = 1 << 16
#: A body being read is a read checkpoint (see :class:`ReadySockets`) at most this often.
BODY_CHECKPOINT_GAP_NS = 1_000_000
#: Reads of a socket that reported an error or a hang-up, at most, in one wake-up (it is
#: read until it runs dry so that the data queued before the error is not lost).
MAX_READS_PER_WAKEUP = 64
#: The loops' plain-TCP transports whose reading the protocol may take over (a TLS
#: transport's socket carries ciphertext: never read it directly).
_PLAIN_TCP_TRANSPORTS = frozenset({"_SelectorSocketTransport", "TCPTransport"})

#: Set to False to stamp every read on the loop (A/B measurements, tests).
kernel_stamps_enabled = True
#: Set to False to keep the trace's send stamp (A/B measurements, tests: the fallback).
kernel_tx_stamps_enabled = True
#: Set to False to make a request with a send time wait for it in the loop before it is
#: written, instead of holding its bytes (A/B measurements: benchmarks/schedule_lag.py).
held_sends_enabled = True

_timestamping_holder: socket.socket | None = None


def hold_kernel_timestamping() -> None:
    """Keep the kernel's receive timestamping switched on for this process's lifetime.

    Linux stamps received packets only while some socket asks for stamps, and switches
    that on from a work queue, a little after the first socket asks: a connection made
    when no other socket had stamps on could miss them for its first reads (seen in
    tests/integration/test_transport.py on a loaded machine). One idle UDP socket with
    ``SO_TIMESTAMPNS`` keeps it on, so that every connection is stamped from its first
    byte. Called when a transport makes its pool, long before a request is sent.
    """
    global _timestamping_holder
    if _timestamping_holder is not None or SO_TIMESTAMPNS is None or not kernel_stamps_enabled:
        return
    try:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return
    try:
        holder.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        holder.close()
        return
    _timestamping_holder = holder


class Arrival:
    """The arrival stamp of the chunk a body iterator yielded last (0 before any), and
    which clock stamped the reads: ``kernel_reads`` / ``loop_reads`` count the pieces
    yielded with each."""

    __slots__ = ("kernel_reads", "loop_reads", "ns")

    def __init__(self) -> None:
        self.ns = 0
        self.kernel_reads = 0
        self.loop_reads = 0

    @property
    def clock(self) -> str:
        """``"kernel"`` when every piece so far had the kernel's stamp, else ``"loop"``."""
        return "kernel" if self.kernel_reads and not self.loop_reads else "loop"


class ReadySockets:
    """The kernel-reading sockets of one pool, in one private ``epoll`` that the event
    loop watches (one descriptor for all of them, however many streams).

    When the loop finds the ``epoll`` readable, :meth:`read_ready` asks it which sockets
    have data (one ``epoll_wait(0)``) and reads each once, stamped by the kernel. A
    socket that reports an error or a hang-up is read until it runs dry, so the data
    still queued, the error and the end are all delivered (a per-socket ``add_reader``
    on uvloop stops watching a socket after its error: a reset could hang a run).

    Read checkpoints: a loop busy for longer than the gap between two chunks (a wave of
    runs ending together: each records its run and sends the next request before the
    loop polls again) lets the kernel merge the two chunks' segments, and a merged read
    carries the newer one's stamp (the kernel's limit, see the module's docstring). So
    :meth:`read_ready` also runs at points where the engine stays busy: each request
    being sent, and a body being read (at most every ``BODY_CHECKPOINT_GAP_NS``).
    """

    __slots__ = ("_epoll", "_handlers", "_last_ns", "_loop", "writer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: the pool's timed writer: every read checkpoint is a send checkpoint too
        self.writer: TimedWriter | None = None
        self._handlers: dict[int, _StampingHandler] = {}
        self._last_ns = 0
        self._epoll: Any = None
        if hasattr(select, "epoll"):
            epoll = select.epoll()
            try:
                loop.add_reader(epoll.fileno(), self.read_ready)
            except (NotImplementedError, RuntimeError, OSError, ValueError):
                epoll.close()
            else:
                self._epoll = epoll

    @property
    def available(self) -> bool:
        return self._epoll is not None

    def watch(self, fd: int, handler: _StampingHandler) -> bool:
        """Read ``fd`` for ``handler`` from now on; False if it cannot be watched."""
        if self._epoll is None:
            return False
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except (OSError, ValueError):
            return False
        self._handlers[fd] = handler
        return True

    def unwatch(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None and self._epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def read_ready(self) -> None:
        """Read every watched socket that has data waiting."""
        if self.writer is not None:
            self.writer.write_due()
        epoll = self._epoll
        if not self._handlers or epoll is None:
            return
        self._last_ns = _perf()
        try:
            events = epoll.poll(0)
        except (OSError, ValueError):
            return
        for fd, mask in events:
            handler = self._handlers.get(fd)
            if handler is None:
                continue
            # transmit stamps waiting on the error queue report as an error: read them
            # (else the epoll stays readable); a real error or data is read below
            if mask & _EPOLLERR and handler._read_tx_stamps() and not mask & _DATA_EVENTS:
                continue
            handler._kernel_read(drain=bool(mask & _ERROR_EVENTS))

    def read_ready_every(self, gap_ns: int) -> None:
        """A read checkpoint on a frequent path: only if the last was ``gap_ns`` ago (a
        send checkpoint every time)."""
        if self.writer is not None:
            self.writer.write_due()
        if self._handlers and _perf() - self._last_ns >= gap_ns:
            self.read_ready()

    def close(self) -> None:
        self._handlers.clear()
        epoll, self._epoll = self._epoll, None
        if epoll is not None:
            if not self._loop.is_closed():
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    self._loop.remove_reader(epoll.fileno())
            epoll.close()


_EPOLLERR = getattr(select, "EPOLLERR", 0)
_ERROR_EVENTS = _EPOLLERR | getattr(select, "EPOLLHUP", 0)
_DATA_EVENTS = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLHUP", 0)


class _StampingHandler(ResponseHandler):
    """aiohttp's response protocol, noting when each read's bytes arrived.

    A mark is (the payload's byte count after this data, stamp, kernel?), kept in a queue
    of the response's own (:meth:`marks_for`) for the response being read before and
    after the data was parsed (one data can end one response and hold the whole of the
    next on a kept-alive connection). Per response, not per connection: aiohttp hands
    the connection back to the pool as soon as a body's last byte is parsed, which under
    load is often before the body's reader has read a byte of it; the next request on
    the connection must not take the unread body's marks, and that body must still find
    them (before, it looked them up through the connection it no longer had, and was
    stamped when read: seconds late, ``loop``).

    On a plain TCP connection (Linux) the protocol reads the socket itself with kernel
    stamps (see the module's docstring); ``clock`` says which clock stamps its reads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, ready: ReadySockets | None = None) -> None:
        super().__init__(loop=loop)
        self._ready = ready
        self._marks: dict[object, deque[tuple[int, int, bool]]] = {}
        #: the stamp and clock of the last read that carried bytes
        self._last_read: tuple[int, bool] = (0, False)
        self.clock = "loop"
        self._ksock: socket.socket | None = None
        self._kreading = False
        self._read_error: BaseException | None = None
        #: transmit stamps: asked for; the newest of the current request (0: none);
        #: still taken (from the request's start until its response's first read)
        self._tx_on = False
        self.tx_sent_ns = 0
        self._tx_open = False
        #: a held request's send stamp (``_held_send``; 0: not held, or not sent yet)
        self.held_sent_ns = 0

    def hold(self, due_ns: int, writer: TimedWriter) -> bool:
        """Hold the next request's bytes until ``due_ns`` (see :mod:`._held_send`);
        False if this connection cannot (closing, or holding switched off)."""
        real = self.transport
        if not held_sends_enabled or real is None or real.is_closing():
            return False
        # aiohttp writes through ``protocol.transport``: the stand-in collects the request
        self.transport = HeldTransport(self, real, due_ns, writer)  # type: ignore[assignment]
        return True

    # -- stamping ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._received(data, _perf(), False)

    def _received(self, data: bytes, now: int, kernel: bool) -> None:
        before = self._payload
        super().data_received(data)
        after = self._payload
        if data:
            self._last_read = (now, kernel)
        elif self._last_read[0]:
            # aiohttp resuming its parser (``data_received(b"")``, at every read of a
            # body): any bytes it parses now came with the last read, not now
            now, kernel = self._last_read
        if before is not None:
            self._mark(before, now, kernel)
        if after is not None and after is not before:
            self._mark(after, now, kernel)

    def marks_for(self, payload: object) -> deque[tuple[int, int, bool]]:
        """The arrival marks of the response whose body is ``payload``: the body's reader
        claims them once, with the response (see the class's docstring)."""
        marks = self._marks.get(payload)
        if marks is None:
            marks = self._marks[payload] = deque()
            while len(self._marks) > MAX_MARKED_RESPONSES:
                del self._marks[next(iter(self._marks))]  # the oldest response's
        return marks

    def _mark(self, payload: Any, now: int, kernel: bool) -> None:
        total = payload.total_bytes
        if not total:
            return
        marks = self.marks_for(payload)
        if marks:
            last_total, _ns, last_kernel = marks[-1]
            if last_total >= total:
                return  # no new bytes for this response
            if len(marks) >= MAX_ARRIVAL_MARKS:  # a reader that far behind: merge
                marks[-1] = (total, now, kernel and last_kernel)
                return
        marks.append((total, now, kernel))

    # -- reading the socket with kernel stamps -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if (
            kernel_stamps_enabled
            and SO_TIMESTAMPNS is not None
            and type(transport).__name__ in _PLAIN_TCP_TRANSPORTS
            and transport.get_extra_info("sslcontext") is None
        ):
            # after the loop's own set-up of the transport, which starts its reading
            self._loop.call_soon(self._take_over_reading, transport)

    def _take_over_reading(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not transport or transport.is_closing():
            return
        if self._ready is None or not self._ready.available:
            return
        assert SO_TIMESTAMPNS is not None
        try:
            fd = os.dup(transport.get_extra_info("socket").fileno())
        except (AttributeError, OSError, ValueError):
            return
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            return
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.transport.pause_reading()
        except (OSError, AttributeError, NotImplementedError, RuntimeError):
            sock.close()
            return
        self._ksock = sock
        self.clock = "kernel"
        if kernel_tx_stamps_enabled and SO_TIMESTAMPING is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, TX_STAMP_FLAGS)
            except OSError:
                pass  # no software transmit stamps here: the trace's send stamp stays
            else:
                self._tx_on = True
        if not (self._reading_paused or self._buffer_paused):
            self._kernel_reading(True)

    # -- the kernel's transmit stamps ----------------------------------------------------

    def set_response_params(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp calls this before it writes each request on the connection: from
        here to the response's first read, transmit stamps are this request's."""
        if self._tx_on:
            self._read_tx_stamps()  # anything still queued is an earlier request's
            self.tx_sent_ns = 0
            self._tx_open = True
        super().set_response_params(*args, **kwargs)

    def _read_tx_stamps(self) -> bool:
        """Read the socket's error queue; the newest send stamp of the request being sent
        becomes ``tx_sent_ns``. True if anything was read."""
        sock = self._ksock
        if sock is None or not self._tx_on:
            return False
        got = False
        for _ in range(MAX_TX_STAMPS_PER_READ):
            try:
                _data, ancillary, _flags, _address = sock.recvmsg(
                    0, _ERRQUEUE_ANCILLARY_BYTES, socket.MSG_ERRQUEUE
                )
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # no error queue here: stop asking
                self._tx_on = False
                break
            now, real = clock_pair()  # as for received data
            got = True
            stamp = 0
            is_send = False
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                    if len(value) >= _TIMESPEC.size:
                        sec, nsec = _TIMESPEC.unpack_from(value)  # [0]: the software stamp
                        if sec or nsec:
                            ago = real - (sec * 1_000_000_000 + nsec)
                            stamp = now - max(0, ago)
                elif (level, kind) in _RECVERR and len(value) >= _EXTENDED_ERR.size:
                    _errno, origin, _t, _c, _p, info, _key = _EXTENDED_ERR.unpack_from(value)
                    is_send = origin == _ORIGIN_TIMESTAMPING and info == _TSTAMP_SND
            if stamp and is_send and self._tx_open:
                self.tx_sent_ns = stamp  # the queue is in send order: the newest is last
        return got

    def _kernel_reading(self, on: bool) -> None:
        sock, ready = self._ksock, self._ready
        if sock is None or ready is None or on is self._kreading:
            return
        if on:
            self._kreading = ready.watch(sock.fileno(), self)
        else:
            self._kreading = False
            ready.unwatch(sock.fileno())

    def _pause_transport_reading(self) -> None:
        if self._ksock is None:
            super()._pause_transport_reading()
        else:
            self._kernel_reading(False)

    def _resume_transport_reading(self) -> None:
        if self._ksock is None:
            super()._resume_transport_reading()
        elif self.transport is not None:
            self._kernel_reading(True)

    def _kernel_read(self, drain: bool = False) -> None:
        """Read the socket as the loop's transport would, each read with the kernel's
        stamp: once, or with ``drain`` (an error or hang-up reported) until it runs dry.
        """
        sock = self._ksock
        for _ in range(MAX_READS_PER_WAKEUP if drain else 1):
            transport = self.transport
            if sock is None or transport is None or transport.is_closing():
                self._kernel_reading(False)
                return
            if not self._kreading:  # flow control paused reading meanwhile
                return
            try:
                data, ancillary, _flags, _address = sock.recvmsg(READ_BYTES, _ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # a reset: the connection ends with this error
                self._kernel_reading(False)
                self._read_error = exc
                transport.abort()
                return
            now, real = clock_pair()  # the clocks' offset now
            if self._tx_open:  # the response's first read: its request was sent before
                self._read_tx_stamps()
                self._tx_open = False
            if not data:  # the peer closed: as the loop's transport does on EOF
                self._kernel_reading(False)
                # ResponseHandler.eof_received keeps nothing open (returns None): close
                self.eof_received()
                transport.close()
                return
            stamp, kernel = now, False
            for level, kind, value in ancillary:
                if (
                    level == socket.SOL_SOCKET
                    and kind == SO_TIMESTAMPNS
                    and len(value) >= _TIMESPEC.size
                ):
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    # realtime -> perf_counter: how long ago it was, on the realtime clock
                    ago = real - (sec * 1_000_000_000 + nsec)
                    stamp, kernel = now - max(0, ago), True
            try:
                self._received(data, stamp, kernel)
            except Exception as exc:  # the loop's transport treats it as fatal too
                self._kernel_reading(False)
                self._read_error = exc
                transport.abort()
                return

    def connection_lost(self, exc: BaseException | None) -> None:
        sock, self._ksock = self._ksock, None
        if sock is not None:
            if self._ready is not None:
                self._ready.unwatch(sock.fileno())
            self._kreading = False
            sock.close()
        if exc is None:
            exc, self._read_error = self._read_error, None
        super().connection_lost(exc)


class _StampingConnector(aiohttp.TCPConnector):
    """A TCPConnector whose connections use :class:`_StampingHandler`.

    aiohttp builds protocols with the connector's ``_factory``; if a future aiohttp
    drops it, chunks are stamped when read (tests/integration/test_transport.py checks that
    the marks are in use with the installed aiohttp).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        hold_kernel_timestamping()
        self.ready = ReadySockets(self._loop)
        self.writer = TimedWriter(self._loop)
        self.ready.writer = self.writer
        if hasattr(self, "_factory"):
            factory: Any = functools.partial(_StampingHandler, loop=self._loop, ready=self.ready)
            self._factory = factory

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109 (aiohttp's signature)
        """A connection for ``req``; for a request with a send time (:mod:`.send_at`) not
        yet come, its bytes are held until then (or, where they cannot be, this waits)."""
        conn = await super().connect(req, traces, timeout)
        protocol = conn.protocol
        if isinstance(protocol, _StampingHandler):
            protocol.held_sent_ns = 0
        due = SEND_AT_NS.get()
        if (
            due is not None
            and due > _perf()
            and not (isinstance(protocol, _StampingHandler) and protocol.hold(due, self.writer))
        ):
            await wait_until(due)  # not held: this task waits for the time
        return conn


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives: the bytes of each read apart.

    Before yielding a piece it sets ``arrival.ns`` to when that piece's bytes arrived
    (or, with no mark for them, to now) and counts which clock stamped it.
    """

    __slots__ = ("_marks", "_ready", "_request", "_response", "arrival")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self.arrival = Arrival()
        # claimed now, from the protocol itself: the response may have handed its
        # connection back already (its whole body parsed), and ``response.connection``
        # is then None (see _StampingHandler)
        protocol = getattr(response, "_protocol", None)
        self._marks: deque[tuple[int, int, bool]] | None = None
        self._ready: ReadySockets | None = None
        if isinstance(protocol, _StampingHandler):
            self._marks = protocol.marks_for(response.content)
            self._ready = protocol._ready

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        marks = self._marks
        ready = self._ready
        arrival = self.arrival
        consumed = 0  # payload bytes yielded so far
        with _mapped(self._request, reading=True):
            while True:
                if ready is not None:  # the readers' parsing keeps the loop busy too
                    ready.read_ready_every(BODY_CHECKPOINT_GAP_NS)
                chunk = await content.readany()
                if not chunk:
                    return
                start, end = consumed, consumed + len(chunk)
                while consumed < end:
                    stamp, kernel, boundary = 0, False, end
                    while marks:
                        total, ns, kernel = marks[0]
                        if total <= consumed:
                            marks.popleft()  # already yielded
                            continue
                        stamp, boundary = ns, min(total, end)
                        break
                    if stamp and kernel:
                        arrival.kernel_reads += 1
                    else:
                        arrival.loop_reads += 1
                    arrival.ns = stamp or _perf()
                    piece = chunk[consumed - start : boundary - start]
                    consumed = boundary
                    yield piece

    async def aclose(self) -> None:
        # release() keeps a fully read connection; an unfinished one is closed
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport(...))``; one pool per client.

    The aiohttp session is made on first use, on the loop that uses it.
    """

    def __init__(
        self,
        *,
        max_connections: int = 64,
        keepalive_expiry: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._limit = max(1, max_connections)
        self._keepalive = keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            verify = self._verify
            connector = _StampingConnector(
                limit=self._limit,
                keepalive_timeout=self._keepalive,
                ssl=verify if isinstance(verify, ssl.SSLContext) else bool(verify),
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[_trace_config()],
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                max_line_size=MAX_HEADER_BYTES,
                max_field_size=MAX_HEADER_BYTES,
            )
            self._session = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        _read_ready(session)  # a read checkpoint before this request's own work
        timeout = request.extensions.get("timeout") or {}
        body = request.content or None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        sent = [0]
        called_ns = _perf()
        with _mapped(request):
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
                trace_request_ctx=sent,
            )
        stream = _Body(response, request)
        protocol = getattr(response, "_protocol", None)
        held_ns = getattr(protocol, "held_sent_ns", 0)
        sent_ns, send_clock = (held_ns if isinstance(held_ns, int) and held_ns else sent[0]), "loop"
        tx_ns = getattr(protocol, "tx_sent_ns", 0)
        if isinstance(tx_ns, int) and called_ns <= tx_ns <= _perf():
            sent_ns, send_clock = tx_ns, "kernel"
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/1.1",
            "sent_ns": sent_ns,
            "send_clock": send_clock,
            "arrival": stream.arrival,
        }
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=stream,
            request=request,
            extensions=extensions,
        )

    def read_checkpoint(self) -> None:
        """Read the pool's sockets that have data waiting, now (kernel stamps only; see
        :class:`ReadySockets`). Sending a request does this already; an engine may call
        it inside other long stretches of work on the loop."""
        session = self._session
        if session is not None and not session.closed:
            _read_ready(session)

    @property
    def open_connections(self) -> int:
        """Connections open in the pool, idle or in use (tests check the warm-up)."""
        session = self._session
        if session is None or session.closed:
            return 0
        connector: Any = session.connector
        idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
        return idle + len(getattr(connector, "_acquired", ()))

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
            # let the connector's transports finish closing before the loop may end
            await asyncio.sleep(0)
        ready = getattr(session.connector, "ready", None) if session is not None else None
        if isinstance(ready, ReadySockets):
            ready.close()
        writer = getattr(session.connector, "writer", None) if session is not None else None
        if isinstance(writer, TimedWriter):
            writer.close()
