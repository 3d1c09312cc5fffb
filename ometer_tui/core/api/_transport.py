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

Arrival: every chunk of a body is stamped when its bytes reach the connection's protocol
(``data_received``, before any parsing), not when a reader gets round to it. The body
iterator yields the bytes of each ``data_received`` separately and publishes their stamp
as ``extensions["arrival"].ns``; the clients read it for every chunk. A reader that falls
behind (a busy event loop, many streams in one burst) therefore no longer delays the
stamps: measured by benchmarks/accuracy.py, see the README's "How accurate is it".

aiohttp exceptions are re-raised as the httpx exceptions httpx's own transport would
raise for the same fault, with the original as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
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


class Arrival:
    """The arrival stamp of the chunk a body iterator yielded last (0 before any)."""

    __slots__ = ("ns",)

    def __init__(self) -> None:
        self.ns = 0


class _StampingHandler(ResponseHandler):
    """aiohttp's response protocol, noting when each ``data_received`` happened.

    A mark is (payload stream, its byte count after this data, stamp), for the response
    being read before and after the data was parsed (one data can end one response and
    hold the whole of the next on a kept-alive connection).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.arrival_marks: deque[tuple[object, int, int]] = deque(maxlen=MAX_ARRIVAL_MARKS)

    def data_received(self, data: bytes) -> None:
        now = _perf()
        before = self._payload
        super().data_received(data)
        after = self._payload
        marks = self.arrival_marks
        if before is not None:
            marks.append((before, before.total_bytes, now))
        if after is not None and after is not before:
            marks.append((after, after.total_bytes, now))


class _StampingConnector(aiohttp.TCPConnector):
    """A TCPConnector whose connections use :class:`_StampingHandler`.

    aiohttp builds protocols with the connector's ``_factory``; if a future aiohttp
    drops it, chunks are stamped when read (tests/integration/test_transport.py checks that
    the marks are in use with the installed aiohttp).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if hasattr(self, "_factory"):
            factory: Any = functools.partial(_StampingHandler, loop=self._loop)
            self._factory = factory


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives: the bytes of each ``data_received`` apart.

    Before yielding a piece it sets ``arrival.ns`` to when that piece's bytes reached
    the protocol (or, with no mark for them, to now).
    """

    __slots__ = ("_request", "_response", "arrival")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self.arrival = Arrival()

    def _marks(self) -> deque[tuple[object, int, int]] | None:
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
                    stamp, boundary = 0, end
                    while marks:
                        payload, total, ns = marks[0]
                        if payload is not content or total <= consumed:
                            marks.popleft()  # another response's, or already yielded
                            continue
                        stamp, boundary = ns, min(total, end)
                        break
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
