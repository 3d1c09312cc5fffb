"""What both API flavours share: one pooled ``httpx.AsyncClient`` (over aiohttp's pool),
auth headers, the plain-HTTP token guard, same-origin redirects, timeouts, timing, token
bookkeeping and the debug exchange log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar, Self

import httpx

from ometer_tui.core.api._transport import AiohttpTransport, Arrival
from ometer_tui.core.api.base import (
    ClientError,
    EmbeddingObservation,
    ErrorKind,
    ExchangeLogged,
    GenerationObservation,
    OutputKind,
    RequestError,
)
from ometer_tui.core.api.errors import (
    body_message,
    error_from_exception,
    error_from_response,
    html_message,
    short,
)
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.secrets import (
    MASK,
    Secret,
    SecretResolutionError,
    WireHeaders,
    redact_headers,
    redact_text,
)

ExchangeSink = Callable[[ExchangeLogged], None]

#: Most redirects followed (same origin only).
MAX_REDIRECTS = 3
#: Cap on a whole non-streamed body kept in memory (model lists, embeddings).
MAX_BODY_BYTES = 64 << 20
#: Cap on an error body read for its message.
MAX_ERROR_BODY_BYTES = 64 << 10
#: Cap on the bytes of one streamed response read before it is cut off (an endless or
#: runaway stream): past it the run ends as TOO_LARGE with the tokens that arrived.
MAX_STREAM_BYTES = 256 << 20
#: Cap on the token chunks of one response: each keeps an arrival stamp in memory.
MAX_TOKEN_CHUNKS = 1_000_000
#: Bytes of a response kept for the debug log.
EXCERPT_BYTES = 4096
#: Keep-alive connections stay open this long when idle (httpx's default is 5 s, which
#: would drop a warmed pool during a pause between models).
KEEPALIVE_EXPIRY_S = 30.0

USER_AGENT = "ometer-tui/0.1"

_perf = time.perf_counter_ns


def arrival_clock(response: httpx.Response) -> Callable[[], int]:
    """Stamps for the chunks a body iterator yields: when their bytes reached the socket.

    The transport publishes each chunk's arrival (see ``_transport.Arrival``); with
    another transport under httpx, a chunk is stamped when it is read.
    """
    arrival = response.extensions.get("arrival")
    if not isinstance(arrival, Arrival):
        return _perf

    def stamp() -> int:
        return arrival.ns or _perf()

    return stamp


def send_clock_of(response: httpx.Response) -> str:
    """Which clock stamped the request's send: ``"kernel"`` (the kernel's transmit stamp
    of its last byte, see ``_transport``) or ``"loop"`` (the trace at the socket write, or
    the time before ``send()`` with another transport)."""
    return "kernel" if response.extensions.get("send_clock") == "kernel" else "loop"


def encode_json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or (443 if scheme == "https" else 80)


def _origin_text(url: httpx.URL) -> str:
    scheme, host, port = _origin(url)
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def elide_payload(value: Any, key: str = "") -> Any:
    """A copy of a request payload with base64 images replaced by their size."""
    if isinstance(value, dict):
        return {k: elide_payload(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "images":
            return [f"<{len(v)} bytes base64>" if isinstance(v, str) else v for v in value]
        return [elide_payload(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and ";base64," in value[:100]:
        head, _, data = value.partition(";base64,")
        return f"{head};base64,<{len(data)} bytes base64>"
    return value


def parse_time(value: object) -> float | None:
    """An ISO 8601 time as a POSIX timestamp (tolerates nanosecond fractions)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes up to 9 fractional digits; datetime takes at most 6.
    dot = text.find(".")
    if dot > 0:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: dot + 1] + text[dot + 1 : end][:6] + text[end:]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class Refused(Exception):
    """The client refused to go on (cross-origin redirect, too many redirects)."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


def _kind(content: str | None, reasoning: str | None) -> OutputKind:
    return "reasoning" if reasoning else "content" if content else "tool_call"


class TokenSink:
    """Per-request bookkeeping of token-carrying chunks (one object per request)."""

    __slots__ = ("capture", "first_malformed", "keep", "kept", "obs", "parts")

    def __init__(self, obs: GenerationObservation, keep: int, capture: bool) -> None:
        self.obs = obs
        self.keep = keep
        self.kept = 0
        self.parts: list[str] = []
        self.first_malformed: RequestError | None = None
        self.capture: bytearray | None = bytearray() if capture else None

    def token(self, now: int, content: str | None, reasoning: str | None) -> None:
        """One chunk carrying output, read at ``now`` (the chunks of one read share its
        stamp); neither content nor reasoning: a tool call."""
        obs = self.obs
        if obs.first_token_ns is None:
            obs.first_token_ns = now
            obs.first_output = _kind(content, reasoning)
        obs.last_token_ns = now
        obs.token_times_ns.append(now)
        obs.token_chunks += 1
        if content:
            if obs.first_visible_ns is None:
                obs.first_visible_ns = now
            if self.kept < self.keep:
                piece = content[: self.keep - self.kept]
                self.parts.append(piece)
                self.kept += len(piece)
        if reasoning:
            obs.reasoning_chars += len(reasoning)

    def whole(self, now: int, content: str | None, reasoning: str | None, tool_call: bool) -> None:
        """A whole (not streamed) answer read by ``now``: its output, without timing."""
        obs = self.obs
        obs.not_streamed = True
        if content or reasoning or tool_call:
            obs.first_output = _kind(content, reasoning)
            obs.last_token_ns = now
        if content:
            self.parts.append(content[: self.keep])
        if reasoning:
            obs.reasoning_chars += len(reasoning)

    def malformed(self, line: bytes, why: str = "not JSON") -> None:
        obs = self.obs
        obs.malformed_lines += 1
        if self.first_malformed is None:
            excerpt = short(line[:200].decode("utf-8", "replace"), 120)
            self.first_malformed = RequestError(
                ErrorKind.PROTOCOL,
                f"malformed stream line ({why}): {excerpt!r}",
                before_first_byte=False,
            )

    def finish(self) -> None:
        if self.parts:
            self.obs.text = "".join(self.parts)
        if self.obs.error is None and self.first_malformed is not None:
            self.obs.error = self.first_malformed


class HttpClient:
    """Base of :class:`OllamaClient` and :class:`OpenAIClient`."""

    flavour: ApiFlavour
    #: a cheap GET for pool warming and flavour checks
    probe_path: ClassVar[str] = "/"
    #: per-response caps (class attributes so a test can lower them)
    max_stream_bytes: ClassVar[int] = MAX_STREAM_BYTES
    max_token_chunks: ClassVar[int] = MAX_TOKEN_CHUNKS

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_connections: int = 64,
        on_exchange: ExchangeSink | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.max_connections = max(1, max_connections)
        self._on_exchange = on_exchange
        self._config_error: RequestError | None = None
        token: Secret | None = None
        api_key: Secret | None = None
        try:
            token, api_key = endpoint.resolve_auth()
        except SecretResolutionError as exc:
            self._config_error = RequestError(ErrorKind.CONFIG, str(exc))
        self._token = token
        self._api_key = api_key
        self._secrets: tuple[Secret | None, ...] = (token, api_key)
        scheme, host, port = endpoint.origin
        self._host = host
        self._port = port
        if (
            self._config_error is None
            and (token or api_key)
            and scheme == "http"
            and not endpoint.is_loopback
            and not endpoint.allow_insecure_http
        ):
            what = "token" if token else "API key"
            self._config_error = RequestError(
                ErrorKind.CONFIG,
                f"endpoint {endpoint.name!r} would send its {what} over plain http to "
                f"{host} (not loopback); use an https:// URL, or set "
                f"allow_insecure_http = true for this endpoint if the network is trusted",
            )
        t = endpoint.timeouts
        self._timeouts = (t.connect_s, t.read_s)
        self._total_s = t.total_s
        headers = {"user-agent": USER_AGENT}
        headers.update(endpoint.headers)
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            headers=headers,
            timeout=httpx.Timeout(connect=t.connect_s, read=t.read_s, write=t.read_s, pool=None),
            # aiohttp's pool under the httpx API: a tenth of httpcore's CPU per chunk here
            # and a send stamp taken at the socket (see _transport.py and the README)
            transport=AiohttpTransport(
                max_connections=self.max_connections, keepalive_expiry=KEEPALIVE_EXPIRY_S
            ),
            follow_redirects=False,
        )

    # -- plumbing -----------------------------------------------------------------------

    def _auth_headers(self, extra: dict[str, str] | None = None) -> WireHeaders:
        """Request headers with the secrets revealed: built per request, never stored,
        in a mapping that masks itself if a crash dump or a log ever shows it."""
        headers = WireHeaders(extra)
        if self._token:
            headers["authorization"] = f"Bearer {self._token.reveal()}"
        if self._api_key:
            headers[self.endpoint.api_key_header] = self._api_key.reveal()
        return headers

    def redact(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def http_error(self, response: httpx.Response, body: bytes) -> RequestError:
        """A non-2xx answer as the run's error, with the server's own message (a flavour
        that knows where its errors sit overrides this)."""
        return error_from_response(
            response.status_code,
            body,
            response.headers,
            reason=response.reason_phrase,
            secrets=self._secrets,
        )

    def _error_from_exception(
        self, exc: BaseException, *, got_first_byte: bool = False, tokens: int = 0
    ) -> RequestError:
        return error_from_exception(
            exc,
            host=self._host,
            port=self._port,
            timeouts=self._timeouts,
            got_first_byte=got_first_byte,
            tokens=tokens,
            secrets=self._secrets,
        )

    def _total_timeout_error(self, got_first_byte: bool) -> RequestError:
        return RequestError(
            ErrorKind.TIMEOUT,
            f"request exceeded {self._total_s:g} s",
            before_first_byte=not got_first_byte,
        )

    async def _open(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        stream_headers: bool = False,
        content_type: str = "application/json",
    ) -> tuple[httpx.Response, int]:
        """Send and follow same-origin redirects; returns the open response and the
        ``perf_counter_ns`` stamp of the first request being written to the socket (the
        transport's ``sent_ns``; the time before ``send()`` if a transport gives none).

        Raises httpx errors, or :class:`Refused` for a redirect that is not followed.
        """
        extra: dict[str, str] = {}
        if body is not None:
            extra["content-type"] = content_type
        if stream_headers:
            # A compressed stream is buffered by gzip on the way: ask for none.
            extra["accept-encoding"] = "identity"
        headers = self._auth_headers(extra)
        request = self._http.build_request(method, path, content=body, headers=headers)
        sent_ns = _perf()
        response = await self._http.send(request, stream=True)
        sent_ns = response.extensions.get("sent_ns") or sent_ns
        send_clock = response.extensions.get("send_clock", "loop")
        hops = 0
        while response.is_redirect:
            target = request.url.join(response.headers["location"])
            status = response.status_code
            await self._drain(response)
            if _origin(target) != _origin(request.url):
                here = _origin_text(request.url)
                there = _origin_text(target)
                if self._token or self._api_key:
                    why = f"not followed so the token stays with {here}"
                else:
                    why = "not followed; set the endpoint URL to the final address"
                raise Refused(
                    RequestError(
                        ErrorKind.PROTOCOL,
                        f"redirected to another origin ({there}); {why}",
                        status=status,
                    )
                )
            hops += 1
            if hops > MAX_REDIRECTS:
                raise Refused(
                    RequestError(
                        ErrorKind.PROTOCOL,
                        f"more than {MAX_REDIRECTS} redirects (last to {target.path})",
                        status=status,
                    )
                )
            if status == 303:
                method, body = "GET", None
                headers.pop("content-type", None)
            request = self._http.build_request(method, target, content=body, headers=headers)
            response = await self._http.send(request, stream=True)
        # the final response says which clock stamped the first request's send
        response.extensions["send_clock"] = send_clock
        return response, sent_ns

    @staticmethod
    async def _drain(response: httpx.Response, limit: int = MAX_ERROR_BODY_BYTES) -> bytes:
        """Read up to ``limit`` bytes of a body and close the response."""
        buf = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                buf += chunk
                if len(buf) >= limit:
                    break
        finally:
            await response.aclose()
        return bytes(buf[:limit])

    @staticmethod
    def response_headers(response: httpx.Response) -> dict[str, str]:
        return redact_headers([(k.lower(), v) for k, v in response.headers.items()])

    def _log(
        self,
        *,
        model: str | None,
        method: str,
        path: str,
        payload: object,
        status: int | None,
        response_headers: dict[str, str],
        excerpt: bytes | bytearray | None,
        error: RequestError | None,
        elapsed_s: float | None,
    ) -> None:
        """Call the exchange sink (only when there is one)."""
        sink = self._on_exchange
        if sink is None:
            return
        shown = redact_headers(self._auth_headers({"content-type": "application/json"}))
        key_header = self.endpoint.api_key_header.lower()
        for name in list(shown):
            if name.lower() == key_header and self._api_key:
                shown[name] = self._api_key.masked or MASK
        request_body = "" if payload is None else json.dumps(elide_payload(payload))[:EXCERPT_BYTES]
        excerpt_text = bytes(excerpt[:EXCERPT_BYTES]).decode("utf-8", "replace") if excerpt else ""
        with contextlib.suppress(Exception):  # a failing log sink must never fail a request
            sink(
                ExchangeLogged(
                    model=model,
                    method=method,
                    url=self.endpoint.display_url + path,
                    request_headers={k: self.redact(v) for k, v in shown.items()},
                    request_body=self.redact(request_body),
                    status=status,
                    response_headers=response_headers,
                    response_excerpt=self.redact(excerpt_text),
                    error=str(error) if error else None,
                    elapsed_s=elapsed_s,
                )
            )

    # -- streamed generation ------------------------------------------------------------

    async def _stream(
        self,
        path: str,
        payload: dict[str, Any],
        obs: GenerationObservation,
        keep_text_chars: int,
        consume: Callable[[httpx.Response, TokenSink], Awaitable[None]],
        model: str,
        *,
        method: str = "POST",
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> GenerationObservation:
        """One streamed attempt: send, check the status, hand the body to ``consume``.

        Never raises for server or network faults (cancellation propagates).
        """
        if self._config_error is not None:
            obs.error = self._config_error
            return obs
        if body is None:
            body = encode_json(payload)
        sink = TokenSink(obs, keep_text_chars, self._on_exchange is not None)
        response: httpx.Response | None = None
        excerpt: bytes | bytearray | None = None
        # when no response ever comes (refused, timeout, redirect not followed) the run
        # was still sent about now; _open's stamp replaces this when it returns
        obs.sent_ns = _perf()
        try:
            async with asyncio.timeout(self._total_s):
                try:
                    response, obs.sent_ns = await self._open(
                        method, path, body, stream_headers=True, content_type=content_type
                    )
                    obs.status = response.status_code
                    obs.response_headers = self.response_headers(response)
                    if response.status_code >= 300:
                        raw = await self._drain(response)
                        excerpt = raw
                        obs.error = self.http_error(response, raw)
                    else:
                        try:
                            await consume(response, sink)
                        finally:
                            await response.aclose()
                        excerpt = sink.capture
                except Refused as refused:
                    obs.error = refused.error
                    obs.status = refused.error.status
                except (httpx.HTTPError, OSError) as exc:
                    excerpt = sink.capture
                    if not (obs.done and obs.error is None):
                        obs.error = self._error_from_exception(
                            exc,
                            got_first_byte=obs.first_byte_ns is not None,
                            tokens=obs.token_chunks,
                        )
                except Exception as exc:  # a shape no parser expected: never raise
                    excerpt = sink.capture
                    obs.error = RequestError(
                        ErrorKind.PROTOCOL,
                        self.redact(short(f"unexpected response ({type(exc).__name__}: {exc})")),
                        before_first_byte=obs.first_byte_ns is None,
                    )
        except TimeoutError:
            excerpt = sink.capture
            obs.error = self._total_timeout_error(obs.first_byte_ns is not None)
        finally:
            obs.finished_ns = _perf()
            sink.finish()
            if response is not None:
                arrival = response.extensions.get("arrival")
                if isinstance(arrival, Arrival):
                    obs.clock = arrival.clock
                obs.send_clock = send_clock_of(response)
        if self._on_exchange is not None:
            self._log(
                model=model,
                method=method,
                path=path,
                payload=payload,
                status=obs.status,
                response_headers=obs.response_headers,
                excerpt=excerpt,
                error=obs.error,
                elapsed_s=(obs.finished_ns - obs.sent_ns) / 1e9 if obs.sent_ns else None,
            )
        return obs

    @staticmethod
    def capture(sink: TokenSink, chunk: bytes) -> None:
        cap = sink.capture
        if cap is not None and len(cap) < EXCERPT_BYTES:
            cap += chunk[: EXCERPT_BYTES - len(cap)]

    async def not_a_stream(self, response: httpx.Response, sink: TokenSink, expected: str) -> None:
        """A 2xx body that is not the stream we asked for: a readable PROTOCOL error."""
        obs = sink.obs
        raw = await self._drain(response)
        if raw:
            obs.first_byte_ns = obs.first_byte_ns or _perf()
        self.capture(sink, raw)
        ctype = response.headers.get("content-type", "?")
        message: str
        kind = ErrorKind.PROTOCOL
        if "html" in ctype.lower():
            message = f"expected {expected}, got an HTML page ({html_message(raw)!s})"
        else:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict) and "error" in decoded:
                kind = ErrorKind.STREAM
                message = body_message(raw, ctype) or "error"
            else:
                found = body_message(raw, ctype) or "empty body"
                message = f"expected {expected}, got {ctype}: {found}"
        obs.error = RequestError(kind, self.redact(short(message)), before_first_byte=not raw)

    def over_cap(self, obs: GenerationObservation, received: int) -> bool:
        """True (and a TOO_LARGE error on ``obs``) once a stream passed a cap."""
        if received > self.max_stream_bytes:
            what = f"more than {self.max_stream_bytes} bytes"
        elif obs.token_chunks > self.max_token_chunks:
            what = f"more than {self.max_token_chunks} token chunks"
        else:
            return False
        obs.error = RequestError(
            ErrorKind.TOO_LARGE,
            f"response cut off after {what} ({obs.token_chunks} tokens kept)",
            before_first_byte=False,
        )
        return True

    def incomplete(self, obs: GenerationObservation, marker: str) -> None:
        if obs.error is None or obs.error.kind is ErrorKind.PROTOCOL:
            what = (
                "an empty response body"
                if obs.first_byte_ns is None
                else f"stream ended without {marker} after {obs.token_chunks} tokens"
            )
            obs.error = RequestError(
                ErrorKind.INCOMPLETE,
                what,
                before_first_byte=obs.first_byte_ns is None,
            )

    # -- plain JSON requests ------------------------------------------------------------

    async def request_json(
        self,
        method: str,
        path: str,
        payload: object = None,
        *,
        model: str | None = None,
        timing: list[int] | None = None,
    ) -> tuple[Any, httpx.Headers, int]:
        """A JSON request/response; raises :class:`ClientError` with a readable error.

        ``timing``, when given, receives ``[sent_ns, finished_ns, kernel]`` (``kernel``
        1 when the send stamp is the kernel's transmit stamp, else 0).
        """
        if self._config_error is not None:
            raise ClientError(self._config_error)
        body = None if payload is None else encode_json(payload)
        status: int | None = None
        headers = httpx.Headers()
        raw = b""
        error: RequestError | None = None
        sent_ns = _perf()  # replaced by _open's stamp when a response comes
        kernel_sent = 0
        try:
            async with asyncio.timeout(self._total_s):
                try:
                    response, sent_ns = await self._open(method, path, body)
                    kernel_sent = int(send_clock_of(response) == "kernel")
                    status = response.status_code
                    headers = response.headers
                    if status >= 300:
                        raw = await self._drain(response)
                        error = self.http_error(response, raw)
                    else:
                        raw = await self._drain(response, MAX_BODY_BYTES + 1)
                        if len(raw) > MAX_BODY_BYTES:
                            error = RequestError(
                                ErrorKind.TOO_LARGE,
                                f"{method} {path}: response larger than {MAX_BODY_BYTES} bytes",
                            )
                except Refused as refused:
                    error = refused.error
                except (httpx.HTTPError, OSError) as exc:
                    error = self._error_from_exception(exc)
        except TimeoutError:
            error = self._total_timeout_error(False)
        finished_ns = _perf()
        if timing is not None:
            timing[:] = [sent_ns, finished_ns, kernel_sent]
        decoded: Any = None
        if error is None:
            try:
                decoded = json.loads(raw)
            except ValueError:
                ctype = headers.get("content-type", "")
                if "html" in ctype.lower() or raw.lstrip()[:1] == b"<":
                    found = f"an HTML page ({html_message(raw)})"
                    hint = "; is the URL the API's base URL?"
                else:
                    found = repr(short(raw[:200].decode("utf-8", "replace"), 80))
                    hint = ""
                error = RequestError(
                    ErrorKind.PROTOCOL,
                    self.redact(f"{method} {path} did not return JSON but {found}{hint}"),
                )
        if self._on_exchange is not None:
            self._log(
                model=model,
                method=method,
                path=path,
                payload=payload,
                status=status,
                response_headers=redact_headers([(k.lower(), v) for k, v in headers.items()]),
                excerpt=raw,
                error=error,
                elapsed_s=(finished_ns - sent_ns) / 1e9 if sent_ns else None,
            )
        if error is not None:
            raise ClientError(error)
        return decoded, headers, status or 0

    async def _embed(
        self,
        path: str,
        payload: dict[str, Any],
        model: str,
        parse: Callable[[Any, EmbeddingObservation], None],
    ) -> EmbeddingObservation:
        obs = EmbeddingObservation()
        timing: list[int] = []
        try:
            decoded, headers, status = await self.request_json(
                "POST", path, payload, model=model, timing=timing
            )
        except ClientError as exc:
            obs.error = exc.error
            obs.status = exc.error.status
        else:
            obs.status = status
            obs.response_headers = redact_headers([(k.lower(), v) for k, v in headers.items()])
            if isinstance(decoded, dict) and "error" in decoded:
                obs.error = RequestError(
                    ErrorKind.STREAM,
                    self.redact(body_message(encode_json(decoded)) or "error"),
                    before_first_byte=False,
                )
            else:
                try:
                    parse(decoded, obs)
                except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
                    obs.error = RequestError(
                        ErrorKind.PROTOCOL,
                        f"unexpected embedding response ({type(exc).__name__}: {exc})",
                        before_first_byte=False,
                    )
        if timing:
            obs.sent_ns, obs.finished_ns, kernel_sent = timing
            obs.send_clock = "kernel" if kernel_sent else "loop"
        return obs

    # -- pool ---------------------------------------------------------------------------

    async def warm_pool(self, connections: int) -> None:
        """Open up to ``connections`` keep-alive connections at once (best effort).

        Each cheap GET holds its connection until all have their headers, so the pool
        really opens that many sockets instead of reusing the first one.
        """
        if self._config_error is not None:
            return
        n = max(0, min(connections, self.max_connections))
        if n == 0:
            return

        async def one() -> httpx.Response | None:
            try:
                response, _ = await self._open("GET", self.probe_path, None)
            except (httpx.HTTPError, OSError, Refused):
                return None
            return response

        try:
            async with asyncio.timeout(self._total_s):
                responses = await asyncio.gather(*(one() for _ in range(n)))
                for response in responses:
                    if response is not None:
                        with contextlib.suppress(httpx.HTTPError, OSError):
                            await self._drain(response, MAX_BODY_BYTES)
        except TimeoutError:
            return

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- wrong flavour --------------------------------------------------------------------

    async def _answers(self, path: str) -> bool:
        """True when a GET of ``path`` is a 2xx JSON answer."""
        try:
            await self.request_json("GET", path)
        except ClientError:
            return False
        return True

    async def wrong_flavour(
        self, err: ClientError, path: str, other_path: str, other: ApiFlavour
    ) -> ClientError:
        """A 404 on ``path``: if the server answers ``other_path``, say which flavour."""
        if err.error.status != 404 or not await self._answers(other_path):
            return err
        name = "Ollama" if self.flavour is ApiFlavour.OLLAMA else "OpenAI"
        return ClientError(
            RequestError(
                ErrorKind.PROTOCOL,
                f"this server does not speak the {name} API (404 on {path}) but answers "
                f'{other_path}: set api = "{other.value}"',
                status=404,
            )
        )
