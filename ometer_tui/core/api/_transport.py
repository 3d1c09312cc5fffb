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
  both clocks at the read). An event loop that is busy or blocked when the bytes arrive
  (finishing a wave of runs, a repaint, the GC) therefore no longer delays the stamp.
  The kernel's limit: a read that drains several segments carries the newest one's time,
  so a chunk is exact as long as the loop reads it before the next chunk arrives, and
  stamped no later than that next chunk otherwise. Works the same on asyncio's selector
  loops and uvloop (both let a duplicate descriptor be watched with ``add_reader``).
- ``"loop"``: when the bytes reach the protocol's ``data_received`` (TLS, which is read
  by the loop's TLS layer; no ``SO_TIMESTAMPNS``; the set-up failed; a read that came
  without a stamp).

aiohttp exceptions are re-raised as the httpx exceptions httpx's own transport would
raise for the same fault, with the original as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
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

#: Response header lines longer than aiohttp's 8 KB default are accepted, as httpx does.
MAX_HEADER_BYTES = 1 << 16

_perf = time.perf_counter_ns


async def _stamp_sent(_session: Any, ctx: SimpleNamespace, _params: Any) -> None:
    holder = ctx.trace_request_ctx
    if holder is not None:
        holder[0] = _perf()


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


#: Arrival marks kept per connection; a reader that far behind loses the oldest ones
#: (its chunks are then stamped when read, as without marks).
MAX_ARRIVAL_MARKS = 4096

#: Linux's ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``; Python's socket module does not name
#: it). 35 on the common architectures; others (alpha, mips, parisc, sparc) use other
#: numbers, so kernel stamps are used only where this value is known to be right.
_KERNEL_STAMP_ARCHES = ("x86_64", "i686", "i386", "aarch64", "arm", "riscv64", "ppc64", "s390x")
SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", None) or (
    35 if sys.platform == "linux" and os.uname().machine.startswith(_KERNEL_STAMP_ARCHES) else None
)
#: ``struct timespec`` as the kernel writes it in the ancillary data.
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) if SO_TIMESTAMPNS else 0
#: Bytes asked of one read (asyncio's own transports read up to 256 KiB).
READ_BYTES = 1 << 18
#: Reads in one wake-up at most (a socket that never runs dry yields to the loop after
#: this many; aiohttp's flow control pauses reading long before).
MAX_READS_PER_WAKEUP = 64
#: The loops' plain-TCP transports whose reading the protocol may take over (a TLS
#: transport's socket carries ciphertext: never read it directly).
_PLAIN_TCP_TRANSPORTS = frozenset({"_SelectorSocketTransport", "TCPTransport"})

#: Set to False to stamp every read on the loop (A/B measurements, tests).
kernel_stamps_enabled = True

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


class _StampingHandler(ResponseHandler):
    """aiohttp's response protocol, noting when each read's bytes arrived.

    A mark is (payload stream, its byte count after this data, stamp, kernel?), for the
    response being read before and after the data was parsed (one data can end one
    response and hold the whole of the next on a kept-alive connection).

    On a plain TCP connection (Linux) the protocol reads the socket itself with kernel
    stamps (see the module's docstring); ``clock`` says which clock stamps its reads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.arrival_marks: deque[tuple[object, int, int, bool]] = deque(maxlen=MAX_ARRIVAL_MARKS)
        self.clock = "loop"
        self._ksock: socket.socket | None = None
        self._kreading = False
        self._read_error: BaseException | None = None

    # -- stamping ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._received(data, _perf(), False)

    def _received(self, data: bytes, now: int, kernel: bool) -> None:
        before = self._payload
        super().data_received(data)
        after = self._payload
        marks = self.arrival_marks
        if before is not None:
            marks.append((before, before.total_bytes, now, kernel))
        if after is not None and after is not before:
            marks.append((after, after.total_bytes, now, kernel))

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
        if not (self._reading_paused or self._buffer_paused):
            self._kernel_reading(True)

    def _kernel_reading(self, on: bool) -> None:
        sock = self._ksock
        if sock is None or on is self._kreading:
            return
        self._kreading = on
        if on:
            self._loop.add_reader(sock.fileno(), self._kernel_read)
        else:
            self._loop.remove_reader(sock.fileno())

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

    def _kernel_read(self) -> None:
        """Read the socket until it has nothing more, as the loop's transport would, each
        read with the kernel's stamp.

        Reading until ``EAGAIN`` (not once per callback) matters on uvloop: when the
        socket reports an error (a reset) libuv calls the callback once more and then
        stops watching it, so the data still queued, the error and the EOF must all be
        read in that call or the connection would wait forever.
        """
        sock = self._ksock
        for _ in range(MAX_READS_PER_WAKEUP):
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
            now, real = _perf(), time.time_ns()  # read together: the clocks' offset now
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
            if self._kreading and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
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
        if hasattr(self, "_factory"):
            factory: Any = functools.partial(_StampingHandler, loop=self._loop)
            self._factory = factory


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives: the bytes of each read apart.

    Before yielding a piece it sets ``arrival.ns`` to when that piece's bytes arrived
    (or, with no mark for them, to now) and counts which clock stamped it.
    """

    __slots__ = ("_request", "_response", "arrival")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self.arrival = Arrival()

    def _marks(self) -> deque[tuple[object, int, int, bool]] | None:
        connection = self._response.connection
        protocol = connection.protocol if connection is not None else None
        return getattr(protocol, "arrival_marks", None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        marks = self._marks()
        arrival = self.arrival
        consumed = 0  # payload bytes yielded so far
        with _mapped(self._request, reading=True):
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                start, end = consumed, consumed + len(chunk)
                while consumed < end:
                    stamp, kernel, boundary = 0, False, end
                    while marks:
                        payload, total, ns, kernel = marks[0]
                        if payload is not content or total <= consumed:
                            marks.popleft()  # another response's, or already yielded
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
        timeout = request.extensions.get("timeout") or {}
        body = request.content or None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        sent = [0]
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
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/1.1",
            "sent_ns": sent[0],
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
