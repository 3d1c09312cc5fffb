"""The sampler: polls the server's own telemetry beside a benchmark, never in its way.

It runs as its own asyncio task on the engine's loop with its own HTTP client (never the
benchmark's connection pool). Each poll has a deadline shorter than the interval and a
size cap; Prometheus text is parsed in a worker thread. A source that is missing, slow,
huge, malformed or wants other credentials is marked "unavailable: <reason>" and the
benchmark goes on: nothing here raises into the caller after construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from ometer_tui.core.bench.events import BenchmarkStarted
from ometer_tui.core.models import Endpoint
from ometer_tui.core.secrets import (
    Secret,
    SecretResolutionError,
    WireHeaders,
    strip_url_credentials,
)
from ometer_tui.core.telemetry import DEFAULT_INTERVAL_S, MIN_INTERVAL_S
from ometer_tui.core.telemetry.prometheus import MalformedMetrics, parse
from ometer_tui.core.telemetry.recording import SourceKind, SourceState, TelemetryRecording
from ometer_tui.core.telemetry.sources import (
    BadAnswer,
    OllamaState,
    PrometheusState,
    apply_prometheus,
    apply_props,
    apply_ps,
    apply_slots,
    check_prometheus,
)

#: a /metrics page larger than this is refused (vLLM's is some tens of KB)
MAX_BODY_BYTES = 2 * 1024 * 1024
DISCOVERY_TIMEOUT_S = 2.0
#: a source failing this many polls in a row is no longer polled
MAX_CONSECUTIVE_FAILURES = 5

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

SampleSink = Callable[[TelemetryRecording], None]
DiscoverySink = Callable[[dict[SourceKind, SourceState]], None]
T = TypeVar("T")

_PATHS: dict[SourceKind, str] = {
    SourceKind.PROMETHEUS: "/metrics",
    SourceKind.LLAMACPP_SLOTS: "/slots",
    SourceKind.LLAMACPP_PROPS: "/props",
    SourceKind.OLLAMA_PS: "/api/ps",
}
#: sources read once at discovery (the rest are polled)
_ONCE = frozenset({SourceKind.LLAMACPP_PROPS})


class FetchFailed(Exception):
    """A poll that gave nothing usable; the message is the reason shown (no secrets)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def endpoint_auth(endpoint: Endpoint) -> tuple[Secret | None, Secret | None]:
    """The endpoint's (token, api key), or none where the benchmark's client would not
    send them either (unresolvable, or plain http to another host without permission)."""
    try:
        token, api_key = endpoint.resolve_auth()
    except SecretResolutionError:
        return None, None
    scheme = endpoint.origin[0]
    if scheme == "http" and not endpoint.is_loopback and not endpoint.allow_insecure_http:
        return None, None  # the same guard as the benchmark's client
    return token, api_key


def request_headers(
    endpoint: Endpoint, auth: tuple[Secret | None, Secret | None], url: str
) -> WireHeaders:
    """The endpoint's headers and credentials, for the endpoint's own host only."""
    # identity: the size cap counts the bytes as they arrive, not a compressed form
    plain = {"user-agent": "ometer-tui-telemetry", "accept-encoding": "identity"}
    if (urlsplit(url).hostname or "") != (urlsplit(endpoint.base_url).hostname or ""):
        return WireHeaders(plain)
    headers = WireHeaders({**endpoint.headers, **plain})
    token, api_key = auth
    if token:
        headers["authorization"] = f"Bearer {token.reveal()}"
    if api_key:
        headers[endpoint.api_key_header] = api_key.reveal()
    return headers


async def fetch_capped(
    client: httpx.AsyncClient, url: str, headers: WireHeaders, limit_s: float, cap: int
) -> bytes:
    """GET ``url``'s body, at most ``cap`` bytes within ``limit_s`` seconds; raises
    :class:`FetchFailed` with the reason (``status`` set for an HTTP error status)."""
    try:
        async with asyncio.timeout(limit_s):
            async with client.stream("GET", url, headers=headers) as r:
                status = r.status_code
                if status in (401, 403):
                    raise FetchFailed(
                        f"{status} {r.reason_phrase}: asks for other credentials", status=status
                    )
                if status != 200:
                    raise FetchFailed(f"{status} {r.reason_phrase}".strip(), status=status)
                length = r.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise FetchFailed(f"too large: {int(length)} bytes (cap {cap})")
                body = bytearray()
                async for chunk in r.aiter_raw():
                    body += chunk
                    if len(body) > cap:
                        raise FetchFailed(f"too large: over the {cap}-byte cap")
                return bytes(body)
    except TimeoutError:
        raise FetchFailed(f"no answer within {limit_s:.2g} s") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(_http_reason(exc)) from None


def poll_timeout(interval_s: float) -> float:
    """A poll must end before the next is due: 80 % of the interval, at most 5 s."""
    return min(0.8 * interval_s, 5.0)


class TelemetrySampler:
    """Server telemetry for one endpoint during one benchmark.

    Use on the engine's loop::

        sampler = TelemetrySampler(endpoint, interval_s=1.0)
        await sampler.discover()      # which sources answer; a first sample of each
        sampler.start()               # the polling task
        ...                           # forward engine events to sampler.observe(event)
        recording = await sampler.stop()

    ``on_sample`` (optional) is called on the loop after every poll round with the live
    :class:`TelemetryRecording`; it must be cheap (post a message).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        metrics_url: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        on_sample: SampleSink | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        discovery_timeout_s: float = DISCOVERY_TIMEOUT_S,
    ) -> None:
        if not interval_s >= MIN_INTERVAL_S:
            raise ValueError(f"telemetry interval must be at least {MIN_INTERVAL_S} s")
        self.endpoint = endpoint
        self.interval_s = interval_s
        self.on_sample = on_sample
        self.max_body_bytes = max_body_bytes
        self.discovery_timeout_s = discovery_timeout_s
        base = endpoint.base_url.rstrip("/")
        self._urls: dict[SourceKind, str] = {k: base + p for k, p in _PATHS.items()}
        metrics_url = metrics_url or endpoint.metrics_url  # the flag, else the setting
        if metrics_url:
            self._urls[SourceKind.PROMETHEUS] = metrics_url
        self.recording = TelemetryRecording(interval_s=interval_s)
        for kind, url in self._urls.items():
            self.recording.sources[kind] = SourceState(kind, strip_url_credentials(url))
        self._auth = self._auth_for(endpoint)
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._prom = PrometheusState()
        self._ollama = OllamaState()
        self._streak: dict[SourceKind, int] = {}

    # -- auth ---------------------------------------------------------------------------

    @staticmethod
    def _auth_for(endpoint: Endpoint) -> tuple[Secret | None, Secret | None]:
        return endpoint_auth(endpoint)

    def _headers(self, url: str) -> WireHeaders:
        return request_headers(self.endpoint, self._auth, url)

    # -- lifecycle ----------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            t = self.endpoint.timeouts
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(min(t.connect_s, 5.0), read=None),
                limits=httpx.Limits(max_connections=len(_PATHS), max_keepalive_connections=4),
                follow_redirects=False,
            )
        return self._http

    async def discover(self) -> dict[SourceKind, SourceState]:
        """Ask every source once (in parallel); those that answer are then polled."""
        self.recording.started_ns = time.perf_counter_ns()
        await asyncio.gather(*(self._poll(kind, self.discovery_timeout_s) for kind in self._urls))
        for state in self.recording.sources.values():
            state.polling = state.available and state.kind not in _ONCE
        return dict(self.recording.sources)

    def start(self) -> None:
        """Start polling on the running loop (after :meth:`discover`)."""
        if self._task is None and any(s.polling for s in self.recording.sources.values()):
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="ometer-telemetry"
            )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def observe(self, event: object) -> None:
        """Forward the engine's events here: the benchmark's start is the clock origin."""
        if isinstance(event, BenchmarkStarted):
            self.mark_origin(time.perf_counter_ns())

    def mark_origin(self, t_ns: int) -> None:
        self.recording.origin_ns = t_ns

    async def stop(self) -> TelemetryRecording:
        """Stop polling (one last sample first, so the run's end is covered)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self._round()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
            self._http = None
        self.recording.stopped_ns = time.perf_counter_ns()
        return self.recording

    async def during(
        self,
        main: Awaitable[T],
        result: Callable[[], BenchmarkResult],
        *,
        on_discovered: DiscoverySink | None = None,
    ) -> T:
        """Discover, sample while ``main`` runs, stop, and attach the recording to
        ``result()`` (the runner's live result) even when ``main`` fails or is cancelled.

        The one way to run telemetry beside a benchmark: headless uses it; a front end
        running the engine on its own loop calls it there, with ``on_sample`` posting
        :func:`~ometer_tui.core.telemetry.summary.current_values` to its UI.
        """
        try:
            try:
                states = await self.discover()
                if on_discovered is not None:
                    on_discovered(states)
                self.start()
            except Exception:  # discovery must never cost the benchmark
                pass
            return await main
        finally:
            result().telemetry = await self.stop()

    async def __aenter__(self) -> TelemetrySampler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- polling ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval_s
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                await self._round()
            except Exception:  # never into the benchmark: sampling just ends
                for state in self.recording.sources.values():
                    state.polling = False
                return
            if not any(s.polling for s in self.recording.sources.values()):
                return
            due += self.interval_s
            now = loop.time()
            if due < now:  # a round overran: skip the missed ticks, keep the rhythm
                due = now + self.interval_s
            if self.on_sample is not None:
                self.on_sample(self.recording)

    async def _round(self) -> None:
        timeout = poll_timeout(self.interval_s)
        polled = [k for k, s in self.recording.sources.items() if s.polling]
        await asyncio.gather(*(self._poll(kind, timeout) for kind in polled))

    async def _poll(self, kind: SourceKind, limit_s: float) -> None:
        state = self.recording.sources[kind]
        try:
            body, t_ns = await self._fetch(self._urls[kind], limit_s)
            await self._apply(kind, body, t_ns)
        except (FetchFailed, BadAnswer, MalformedMetrics) as exc:
            self._failed(state, str(exc))
        except Exception as exc:  # a bug here must not end the benchmark
            self._failed(state, f"internal error ({type(exc).__name__})")
        else:
            state.available, state.reason = True, None
            state.samples += 1
            self._streak[kind] = 0

    def _failed(self, state: SourceState, reason: str) -> None:
        state.available, state.reason = False, reason
        state.failures += 1
        streak = self._streak.get(state.kind, 0) + 1
        self._streak[state.kind] = streak
        if streak >= MAX_CONSECUTIVE_FAILURES and state.polling:
            state.polling = False
            state.reason = f"{reason} (stopped after {streak} failures in a row)"

    async def _fetch(self, url: str, limit_s: float) -> tuple[bytes, int]:
        data = await fetch_capped(
            self._client(), url, self._headers(url), limit_s, self.max_body_bytes
        )
        return data, time.perf_counter_ns()

    async def _apply(self, kind: SourceKind, body: bytes, t_ns: int) -> None:
        rec = self.recording
        if kind is SourceKind.PROMETHEUS:
            text = body.decode("utf-8", errors="replace")
            scrape = await asyncio.to_thread(parse, text)
            check_prometheus(scrape)
            apply_prometheus(rec, self._prom, scrape, t_ns)
            return
        data = _json(body)
        if kind is SourceKind.LLAMACPP_SLOTS:
            apply_slots(rec, data, t_ns)
        elif kind is SourceKind.LLAMACPP_PROPS:
            apply_props(rec, data)
        else:
            apply_ps(rec, self._ollama, data, t_ns)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadAnswer("not JSON") from None


def _http_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection broke (protocol error)"
    return f"HTTP error ({type(exc).__name__})"
