"""An httpx transport over aiohttp's connection pool, stamping when a request is sent.

Why (measured by benchmarks/accuracy.py, see the README's "How accurate is it"): at 100
streams x 50 tokens/s, httpx's own pool (httpcore) used ~10x the CPU of aiohttp's for
the same traffic on this 2-core machine, took seconds to put 100 concurrent requests on
the wire, and delayed chunk stamps by tens of milliseconds. The clients keep the httpx
API (``httpx.AsyncClient``, ``httpx.Response``, httpx exceptions, which
:mod:`ometer_tui.core.api.errors` reads); only the transport underneath changes.

Timing: the request clock starts when the request is handed to the socket (metrics.md).
An aiohttp trace stamps ``time.perf_counter_ns()`` right after the request's headers and
body are written, and the response carries it as ``extensions["sent_ns"]``. Stamping
before ``send()`` instead would count the pool's own queueing and request building as
time to first token (milliseconds per request when many start at once).

aiohttp exceptions are re-raised as the httpx exceptions httpx's own transport would
raise for the same fault, with the original as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx

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


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives (whatever the socket had, no re-chunking)."""

    __slots__ = ("_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _mapped(self._request, reading=True):
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk

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
            connector = aiohttp.TCPConnector(
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
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1", "sent_ns": sent[0]}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
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
