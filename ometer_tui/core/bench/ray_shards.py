"""Engine shards as Ray actors on a Ray cluster (``--ray auto|ADDRESS``).

One :class:`RayShardRunner` runs one shard of a plan (or the whole plan) in a Ray actor
placed with the ``SPREAD`` strategy, so the shards of a benchmark land on different
nodes where the cluster has them. In the actor the engine (:class:`BenchmarkRunner`)
runs on an engine loop of its own (uvloop where installed) in a thread, exactly as it
does locally; its events go to a queue that the driver empties in batches (one
``drain()`` call returns everything queued, at most a few times a second: never one call
per event). ``cancel()`` is an actor call. An actor that dies (its node lost,
``ray.kill``) ends the run with :class:`RayWorkerLost` naming the worker, never a hang;
the actor is killed when the run ends, fails or is cancelled.

Clocks: the actor times its requests on its own monotonic clock (per-request figures
are exact). To put its runs on the driver's time axis, the driver measures the offset
between the clocks at start, NTP-like (:func:`clock_offset`): several pings of
(driver t0, actor clock, driver t1), the one with the shortest round trip kept; offset =
actor - (t0 + t1) / 2, uncertainty = (t1 - t0) / 2. A shard's shared time origin and
start (``ShardSpec.origin_ns`` / ``start_ns``, on the driver's clock) are moved by that
offset onto the actor's clock (:func:`on_worker_clock`), so every record's
``started_at_s`` / ``finished_at_s`` (and a load's intended send times) lands on the
driver's time line. Drift of the clocks over a run is not corrected (README "Past one
machine: Ray").

Ray is imported only inside functions: this module imports without Ray installed, and
:func:`ray_available` says why Ray cannot be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ometer_tui.core.bench.events import (
    BenchmarkEvent,
)
from ometer_tui.core.bench.fold import ResultFold
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.models import Endpoint
from ometer_tui.core.secrets import Secret, TokenRef

if TYPE_CHECKING:
    from ometer_tui.core.bench.shards import Runner

EventSink = Callable[[BenchmarkEvent], None]

#: How to get Ray (the optional extra pins the version the project tests with).
RAY_INSTALL_HINT = "pip install 'ometer-tui[ray]'"
#: The driver asks each actor for its events about this often (the actor answers at
#: once when the run ends).
DRAIN_INTERVAL_S = 0.1
#: Pings of the clock-offset measurement (the shortest round trip is kept).
CLOCK_PINGS = 9
#: CPUs an actor asks of its node: one engine per core.
ACTOR_CPUS = 1.0
#: The namespace of the actors (so ``ray list actors`` shows whose they are).
RAY_NAMESPACE = "ometer-tui"


def ray_available() -> str | None:
    """``None`` when Ray can be imported, else one line saying why and how to get it."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        return f"Ray is not installed ({exc}); install it with: {RAY_INSTALL_HINT}"
    except Exception as exc:  # a broken install: say so rather than crash
        return f"Ray cannot be imported ({type(exc).__name__}: {exc}); try: {RAY_INSTALL_HINT}"
    return None


def ray_address_problem(address: str) -> str | None:
    """Why ``address`` is not a Ray cluster address (one line, without the option's
    name: each front end names its own), or ``None``: ``auto`` (the cluster started on
    this machine) or the head's ``host:port``. The one rule of ``--ray`` and the run
    panel's Ray field."""
    text = address.strip()
    head, sep, port = text.rpartition(":")
    if text == "auto" or (sep and head and port.isdigit()):
        return None
    return f"expected 'auto' or the cluster head's host:port, got {address!r}"


def ray_workers(given: int | None, nodes: int) -> int:
    """The workers of a run on a Ray cluster of ``nodes`` alive nodes: ``given`` (the
    user's number), else one per node."""
    return given or max(nodes, 1)


def cluster_line(plan: BenchmarkPlan, address: str, nodes: int, workers: int) -> str:
    """``Ray cluster at auto: 2 node(s), 2 worker(s)`` (the workers ``plan`` can be
    split into, of ``workers``)."""
    from ometer_tui.core.bench.shards import worker_count

    n = worker_count(plan, workers) if workers > 1 else 1
    return f"Ray cluster at {address}: {nodes} node(s), {n} worker(s)"


class RayError(RuntimeError):
    """A run on Ray failed for Ray's reasons (not the engine's): see the subclasses."""


class RayUnavailable(RayError):
    """Ray is not installed or the cluster cannot be reached."""


class RayWorkerLost(RayError):
    """A shard's Ray actor died (its node was lost, it was killed, it crashed).
    ``worker``: its 0-based index (the message counts from 1, as the workers strip)."""

    def __init__(self, worker: int, workers: int, node: str | None, reason: str) -> None:
        where = f" on node {node}" if node else ""
        super().__init__(f"Ray worker {worker + 1} of {workers}{where} died: {reason}")
        self.worker = worker
        self.node = node


# -- clocks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """The worker's monotonic clock against the driver's, from the best of ``pings``."""

    offset_ns: int  # worker clock - driver clock
    uncertainty_ns: int  # half the shortest round trip: |error of offset_ns| <= this
    round_trip_ns: int  # the shortest round trip
    pings: int

    def describe(self) -> str:
        return (
            f"clock offset {self.offset_ns / 1e3:+,.1f} µs ± {self.uncertainty_ns / 1e3:,.1f} µs "
            f"(best round trip of {self.pings}: {self.round_trip_ns / 1e3:,.1f} µs)"
        )


def clock_offset(pings: Iterable[tuple[int, int, int]]) -> ClockOffset:
    """The offset from pings of (driver t0, worker clock, driver t1), all in ns.

    The worker read its clock somewhere between t0 and t1 (on the driver's clock), so
    taking the middle errs by at most half the round trip; the shortest round trip of
    the pings bounds it best.
    """
    samples = list(pings)
    if not samples:
        raise ValueError("clock_offset: no ping")
    for t0, _, t1 in samples:
        if t1 < t0:
            raise ValueError(f"clock_offset: a ping ends before it starts ({t0} > {t1})")
    t0, worker, t1 = min(samples, key=lambda p: p[2] - p[0])
    rtt = t1 - t0
    return ClockOffset(
        offset_ns=worker - (t0 + t1) // 2,
        uncertainty_ns=(rtt + 1) // 2,
        round_trip_ns=rtt,
        pings=len(samples),
    )


def on_worker_clock(plan: BenchmarkPlan, offset_ns: int) -> BenchmarkPlan:
    """``plan`` with its shard's shared origin and start (on the driver's clock) moved
    onto a worker's clock that reads ``offset_ns`` more; a plan that is no shard, or
    whose shard has neither, is returned as it is."""
    shard = plan.shard
    if shard is None or (shard.origin_ns is None and shard.start_ns is None):
        return plan
    origin = None if shard.origin_ns is None else shard.origin_ns + offset_ns
    start = None if shard.start_ns is None else shard.start_ns + offset_ns
    return replace(plan, shard=replace(shard, origin_ns=origin, start_ns=start))


# -- credentials ------------------------------------------------------------------------------


class Credentials:
    """The endpoints' tokens, resolved on the driver, on their way to the actors.

    A :class:`Secret` refuses to be pickled; the plan goes to the actors without its
    tokens and this carries them beside it (to ``start()``, an actor call, not the
    actor's creation arguments), to be put back in the actor. Masked in ``repr``;
    never logged. An ``env:`` reference is resolved here, on the driver: the workers'
    nodes need not have the variable.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, tuple[str | None, str | None]]) -> None:
        self._raw = raw  # endpoint name -> (bearer token, api key)

    def __repr__(self) -> str:
        return f"Credentials({len(self._raw)} endpoint(s), masked)"

    def __reduce__(self) -> tuple[object, ...]:
        return (Credentials, (self._raw,))

    def restore(self, plan: BenchmarkPlan) -> BenchmarkPlan:
        """``plan`` with its endpoints' tokens back (as literal secrets)."""
        return _each_endpoint(plan, self._with_auth)

    def _with_auth(self, endpoint: Endpoint) -> Endpoint:
        token, key = self._raw.get(endpoint.name, (None, None))
        return replace(
            endpoint,
            token=None if token is None else TokenRef(value=Secret(token)),
            api_key=None if key is None else TokenRef(value=Secret(key)),
        )


def split_credentials(plan: BenchmarkPlan) -> tuple[BenchmarkPlan, Credentials]:
    """(the plan without tokens, the tokens): see :class:`Credentials`. Raises
    ``SecretResolutionError`` (naming the variable, never a value) as a local run would."""
    raw: dict[str, tuple[str | None, str | None]] = {}
    for part in plan.parts:
        token, key = part.endpoint.resolve_auth()
        raw[part.endpoint.name] = (
            None if token is None else token.reveal(),
            None if key is None else key.reveal(),
        )

    def bare(endpoint: Endpoint) -> Endpoint:
        return replace(endpoint, token=None, api_key=None)

    return _each_endpoint(plan, bare), Credentials(raw)


def _each_endpoint(plan: BenchmarkPlan, change: Callable[[Endpoint], Endpoint]) -> BenchmarkPlan:
    parts = tuple(replace(part, endpoint=change(part.endpoint)) for part in plan.endpoint_plans)
    return replace(plan, endpoint=change(plan.endpoint), endpoint_plans=parts)


# -- the actor --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """What one ``drain()`` returns: the events queued, and the end when it came."""

    events: tuple[BenchmarkEvent, ...]
    done: bool = False
    result: BenchmarkResult | None = None
    error: BaseException | None = None


class ShardActor:
    """The body of a shard's Ray actor (made a Ray actor by :func:`_actor_class`).

    ``start()`` runs the engine on its own loop in a thread; ``drain()`` (async: it runs
    on the actor's loop, beside ``cancel()``) hands over what is queued.
    """

    def __init__(self, plan: BenchmarkPlan, worker: int, workers: int, log_exchanges: bool) -> None:
        self._plan, self._worker, self._workers = plan, worker, workers
        self._log_exchanges = log_exchanges
        self._events: deque[BenchmarkEvent] = deque()
        self._done = threading.Event()
        self._result: BenchmarkResult | None = None
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._runner: Any = None
        self._bare_plan = plan
        self._ended = asyncio.Event()

    def where(self) -> tuple[str, str]:
        """(host name, Ray node id) of this actor."""
        import ray

        return socket.gethostname(), str(ray.get_runtime_context().get_node_id())

    async def clock(self) -> int:
        return time.perf_counter_ns()

    async def start(self, offset_ns: int, credentials: Credentials) -> None:
        """Run the engine, the shard's shared times moved onto this actor's clock (it
        reads ``offset_ns`` more than the driver's)."""
        self._bare_plan = self._plan
        self._plan = on_worker_clock(credentials.restore(self._plan), offset_ns)
        self._ended = asyncio.Event()  # on the actor's loop, where drain() waits on it
        actor_loop = asyncio.get_running_loop()

        def ended() -> None:
            actor_loop.call_soon_threadsafe(self._ended.set)

        thread = threading.Thread(
            target=self._engine, args=(ended,), name="ometer-shard", daemon=True
        )
        thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        runner = self._runner
        if runner is not None:
            runner.cancel()

    async def drain(self, wait_s: float) -> Batch:
        """Everything queued; waits up to ``wait_s`` first (less when the run ends)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), wait_s)
        done = self._done.is_set()  # before taking the events: none is left behind
        events = []
        while self._events:
            events.append(self._events.popleft())
        if not done:
            return Batch(tuple(events))
        return Batch(tuple(events), True, self._result, _picklable(self._error))

    # -- in the engine's thread -------------------------------------------------------------

    def _engine(self, ended: Callable[[], None]) -> None:
        from ometer_tui.core.bench.load_report import reporting
        from ometer_tui.core.bench.loop import run_engine
        from ometer_tui.core.bench.runner import BenchmarkRunner

        runner = BenchmarkRunner(self._plan, self._events.append, log_exchanges=self._log_exchanges)
        self._runner = runner
        if self._cancel.is_set():
            runner.cancel()

        async def main() -> BenchmarkResult:  # with a WorkerLoad a second (load_report.py)
            return await reporting(
                runner.run(), self._events.append, worker=self._worker, workers=self._workers
            )

        try:
            result = run_engine(main())
            result.plan = self._bare_plan  # its secrets stay here (the driver has its plan)
            self._result = result
        except BaseException as exc:  # reported to the driver by drain()
            self._error = exc
        finally:
            self._done.set()
            ended()


def _picklable(exc: BaseException | None) -> BaseException | None:
    """``exc`` if it crosses the process boundary intact, else its text in a RuntimeError."""
    if exc is None:
        return None
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(ShardActor)
    return _ACTOR_CLASS


# -- the driver --------------------------------------------------------------------------------

_connect_lock = threading.Lock()


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one running on this machine)
    unless this process already did; :class:`RayUnavailable` says why it cannot."""
    problem = ray_available()
    if problem is not None:
        raise RayUnavailable(problem)
    import ray

    with _connect_lock:
        if ray.is_initialized():
            return
        _probe(address)  # ray.init retries an unreachable address for minutes
        try:
            ray.init(
                address=address,
                namespace=RAY_NAMESPACE,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"cannot join the Ray cluster at {address!r}: {exc}") from None


#: How long the cluster's head may take to accept a connection before it is unreachable.
PROBE_TIMEOUT_S = 5.0


def _probe(address: str) -> None:
    """Fail fast (:class:`RayUnavailable`) when the head at ``address`` does not accept
    a TCP connection; ``auto`` is first looked up as ``ray.init`` would."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:  # Ray moved it: let ray.init find the cluster
            return
        try:
            target = canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as exc:
            raise RayUnavailable(f"no Ray cluster runs on this machine ({exc})") from None
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"expected 'auto' or the cluster head's host:port, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayUnavailable(f"the Ray cluster head at {target} does not answer ({exc})") from None


def cluster_nodes(address: str) -> int:
    """Alive nodes of the cluster (joined first)."""
    connect(address)
    import ray

    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes  # untyped in Ray
    return len([node for node in nodes() if node.get("Alive")])


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a shard runs and how its clock compares with the driver's."""

    worker: int
    workers: int
    host: str
    node_id: str
    clock: ClockOffset

    def describe(self) -> str:
        return (
            f"ray worker {self.worker + 1} of {self.workers}: node {self.host} "
            f"({self.node_id[:12]}), {self.clock.describe()}"
        )


class RayShardRunner:
    """One shard of a plan run by a Ray actor, with the runner's shape (``run``,
    ``cancel`` from any thread, ``result``, ``cancel_requested``).

    A shard's shared origin and start (``plan.shard``, on the driver's clock) are moved
    onto the actor's clock by the offset measured at start (see the module doc); a plan
    that is no shard times its records from the engine's own start, as one engine
    does. ``on_placed`` hears where the actor
    runs and its clock offset, once measured (on the driver's loop).
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        worker: int = 0,
        workers: int = 1,
        address: str = "auto",
        log_exchanges: bool = False,
        on_placed: Callable[[Placement], None] | None = None,
    ) -> None:
        self.plan = plan
        self._on_event = on_event
        self._worker, self._workers, self._address = worker, workers, address
        self._log_exchanges = log_exchanges
        self._on_placed = on_placed
        self._fold = ResultFold(plan)
        self._final: BenchmarkResult | None = None
        self._cancel_requested = False
        self._actor: Any = None
        self._lock = threading.Lock()
        #: where the actor runs, once placed
        self.placement: Placement | None = None

    @property
    def result(self) -> BenchmarkResult:
        return self._final if self._final is not None else self._fold.result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Stop the shard (its finished runs are kept); callable from any thread."""
        with self._lock:
            self._cancel_requested = True
            actor = self._actor
        if actor is not None:
            with contextlib.suppress(Exception):  # an actor already gone has stopped
                actor.cancel.remote()

    async def run(self) -> BenchmarkResult:
        problems = self.plan.validate()
        if problems:
            raise ValueError("; ".join(problems))
        await asyncio.to_thread(connect, self._address)
        import ray

        bare, credentials = split_credentials(self.plan)
        actor = (
            _actor_class()
            .options(scheduling_strategy="SPREAD", num_cpus=ACTOR_CPUS, max_concurrency=8)
            .remote(bare, self._worker, self._workers, self._log_exchanges)
        )
        with self._lock:
            self._actor = actor
        host: str | None = None
        try:
            host, node_id = await actor.where.remote()
            offset = await self._measure_clock(actor)
            self.placement = Placement(self._worker, self._workers, host, node_id, offset)
            if self._on_placed is not None:
                self._on_placed(self.placement)
            await actor.start.remote(offset.offset_ns, credentials)
            if self._cancel_requested:
                actor.cancel.remote()
            while True:
                batch: Batch = await actor.drain.remote(DRAIN_INTERVAL_S)
                if batch.events:
                    self._fold.apply(batch.events)
                    for event in batch.events:
                        self._on_event(event)
                if batch.done:
                    break
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayWorkerLost(self._worker, self._workers, host, reason) from None
        finally:
            with self._lock:
                self._actor = None
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        if batch.error is not None:
            raise batch.error
        if batch.result is None:  # a done batch carries one or the other
            raise RuntimeError(f"Ray worker {self._worker} ended without a result")
        result = batch.result
        result.plan = self.plan  # the driver's own (with its token references)
        self._final = result
        return result

    async def _measure_clock(self, actor: Any) -> ClockOffset:
        pings: list[tuple[int, int, int]] = []
        for _ in range(CLOCK_PINGS):
            t0 = time.perf_counter_ns()
            worker_ns: int = await actor.clock.remote()
            t1 = time.perf_counter_ns()
            pings.append((t0, worker_ns, t1))
        return clock_offset(pings)


ShardFactory = Callable[[BenchmarkPlan, int, int, EventSink], RayShardRunner]


class RayShardFactory:
    """Makes the shards of a benchmark as Ray actors (a ``ShardFactory``); keeps the
    runners it made, and tells ``on_placed`` where each one runs."""

    def __init__(
        self,
        address: str,
        *,
        on_placed: Callable[[Placement], None] | None = None,
        log_exchanges: bool = False,
    ) -> None:
        self.address = address
        self.on_placed = on_placed
        self.log_exchanges = log_exchanges
        self.runners: list[RayShardRunner] = []

    def __call__(
        self, plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink
    ) -> RayShardRunner:
        runner = RayShardRunner(
            plan,
            sink,
            worker=worker,
            workers=workers,
            address=self.address,
            log_exchanges=self.log_exchanges,
            on_placed=self.on_placed,
        )
        self.runners.append(runner)
        return runner

    @property
    def placements(self) -> Sequence[Placement]:
        return [r.placement for r in self.runners if r.placement is not None]


def ray_shard_factory(
    address: str, *, on_placed: Callable[[Placement], None] | None = None
) -> RayShardFactory:
    """A ``ShardFactory`` running each shard as a Ray actor on the cluster at ``address``."""
    return RayShardFactory(address, on_placed=on_placed)


def ray_runner_for(
    plan: BenchmarkPlan,
    on_event: EventSink,
    *,
    workers: int,
    factory: RayShardFactory,
    log_exchanges: bool = False,
) -> Runner:
    """The runner of ``plan`` on ``workers`` Ray actors made by ``factory``: one actor
    running the whole plan, or the plan split and merged
    (:class:`~ometer_tui.core.bench.shards.MergedRunner`). Headless and the dashboard
    both make their Ray runners here."""
    if workers <= 1:
        return factory(plan, 0, 1, on_event)
    from ometer_tui.core.bench.shards import MergedRunner

    return MergedRunner(
        plan, on_event, workers=workers, shard_factory=factory, log_exchanges=log_exchanges
    )
