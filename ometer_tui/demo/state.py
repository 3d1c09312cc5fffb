"""What the demo endpoint remembers between requests: counters, loaded models."""

from __future__ import annotations

import asyncio
import copy
import hmac
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ometer_tui.demo.catalogue import BY_NAME, DemoModel
from ometer_tui.demo.errors import DemoError, Dialect, unknown_model
from ometer_tui.demo.faults import http_fault, status_fault
from ometer_tui.demo.http import Request, Responder
from ometer_tui.demo.metrics import DemoMetrics
from ometer_tui.demo.payload import JsonObject, parse_object

#: What a warm model reports as ``load_duration``.
WARM_LOAD_S = 0.002
#: How long a model stays "loaded" in ``/api/ps`` after its last request.
KEEP_ALIVE_S = 300.0

SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


@dataclass(slots=True)
class DemoStats:
    """Counters of the requests the endpoint has seen since start or reset.

    ``in_flight`` counts generation and embedding requests from the moment their body
    was read to their last byte (or the client leaving); ``max_in_flight`` is the most
    ever seen at once. ``last_headers`` are the last request's headers, names lower-cased.
    """

    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    last_headers: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> DemoStats:
        return copy.deepcopy(self)

    def to_json(self) -> JsonObject:
        """For ``GET /demo/stats``: credentials in ``last_headers`` are masked."""
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "last_headers": {
                name: ("***" if name in SENSITIVE_HEADERS else value)
                for name, value in self.last_headers.items()
            },
        }


@dataclass(frozen=True, slots=True)
class LoadState:
    """How long this request waits for its model, and what it reports as load time."""

    wait_s: float
    reported_s: float


class DemoState:
    def __init__(self, *, require_token: str | None, reject_stream_options: bool) -> None:
        self._require_token = require_token
        self.reject_stream_options = reject_stream_options
        self.stats = DemoStats()
        self.metrics = DemoMetrics()  # GET /metrics, vLLM-style (demo/metrics.py)
        self.attempts: Counter[str] = Counter()
        #: model name -> loop time its (simulated) load finishes or finished
        self._ready_at: dict[str, float] = {}
        #: model name -> wall-clock time it would be unloaded
        self._expires_at: dict[str, float] = {}

    # -- counters --------------------------------------------------------------------

    def record(self, request: Request) -> None:
        self.stats.requests += 1
        self.stats.by_path[request.path] = self.stats.by_path.get(request.path, 0) + 1
        self.stats.last_headers = dict(request.headers)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        stats = self.stats  # the one counters object: reset() clears it in place
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            yield
        finally:
            stats.in_flight -= 1

    def reset(self) -> None:
        """Zero the counters and forget loaded models, so cold loads happen again."""
        stats = self.stats
        # Requests still in flight will count themselves down on this same object.
        stats.max_in_flight = stats.in_flight
        stats.requests = 0
        stats.by_path = {}
        stats.last_headers = {}
        self.attempts.clear()
        self._ready_at.clear()
        self._expires_at.clear()

    # -- auth ------------------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        if self._require_token is None:
            return True
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self._require_token.encode())

    # -- models ----------------------------------------------------------------------

    def lookup(self, name: str, dialect: Dialect) -> DemoModel:
        """The catalogue model, or the error its name asks for (404, ``fault-http-*``)."""
        fault = http_fault(name)
        if fault is not None:
            raise fault
        model = BY_NAME.get(name) or BY_NAME.get(name.removesuffix(":latest"))
        if model is None:
            raise unknown_model(name, dialect)
        return model

    def check_status_fault(self, model: DemoModel) -> None:
        error: DemoError | None = status_fault(model, self.attempts)
        if error is not None:
            raise error

    def load(self, model: DemoModel, now: float) -> LoadState:
        """Mark ``model`` loaded; a request arriving while it loads waits for the rest."""
        ready_at = self._ready_at.get(model.name)
        if ready_at is None:
            ready_at = now + model.load_s
            self._ready_at[model.name] = ready_at
        self._expires_at[model.name] = time.time() + KEEP_ALIVE_S
        wait = max(0.0, ready_at - now)
        return LoadState(wait, wait if wait > 0 else WARM_LOAD_S)

    def unload(self, name: str) -> None:
        self._ready_at.pop(name, None)
        self._expires_at.pop(name, None)

    def loaded(self) -> list[tuple[DemoModel, float]]:
        """Loaded models with the wall-clock time each expires."""
        now = time.time()
        return [
            (BY_NAME[name], expires)
            for name, expires in self._expires_at.items()
            if expires > now and name in BY_NAME
        ]


@dataclass(slots=True)
class Exchange:
    """One request being answered: what a route handler works with."""

    request: Request
    responder: Responder
    state: DemoState
    dialect: Dialect
    reader: asyncio.StreamReader
    loop: asyncio.AbstractEventLoop
    #: event-loop time at which the request body had been fully read
    start: float

    def body(self) -> JsonObject:
        return parse_object(self.request.body)

    async def client_gone(self) -> None:
        """Returns when the client closes its side of the connection."""
        while await self.reader.read(65536):
            pass


Handler = Callable[[Exchange], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    handler: Handler
    #: a generation or embedding request: counted in ``stats.in_flight``
    counts_in_flight: bool = False
