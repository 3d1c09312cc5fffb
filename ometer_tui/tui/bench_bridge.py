"""Runs a benchmark off the UI's event loop and hands its events to the UI in batches.

The engine runs in a process of its own by default (``ProcessRunner``,
core/bench/process_runner.py): its own interpreter, so nothing the UI draws can delay a
send or a stamp (README "How accurate is it", "The engine in its own process"). The
bridge still awaits the runner on a loop of its own in a worker thread: there the
process runner reads the engine's coalesced event batches and its ``on_event`` only
appends to a deque (thread-safe, O(1)); the UI drains the deque on a timer a few times
per second.

``OMETER_TUI_ENGINE=thread`` (read when a runner is made) runs the engine on that
thread's loop instead, as before: both threads then share one interpreter lock. A thread
whose socket became readable waits for the lock until the holder reaches the switch
interval (5 ms by default), and every such wait would land on a stamp; while a
benchmark runs the interval is cut to ``ENGINE_SWITCH_INTERVAL_S`` and restored after.
Either way the engine reports its load (``WorkerLoad``) about once a second.

Server telemetry (``telemetry``, per the settings' ``[telemetry]``) runs on the bridge's
loop, beside the runner (``TelemetrySampler.during``, as headless does); after each
poll its ``on_sample`` leaves an immutable snapshot in one slot, overwriting any the UI
has not taken yet, so however often it samples the UI gets at most one per drain.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, cast

from ometer_tui.core.bench.events import BenchmarkEvent, EngineNotice
from ometer_tui.core.bench.loop import run_engine
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.sweep_form import StepsRequest, first_start_only
from ometer_tui.core.telemetry import DEFAULT_INTERVAL_S
from ometer_tui.core.telemetry.live import TelemetrySnapshot, snapshot

if TYPE_CHECKING:
    from ometer_tui.core.bench.steps import SweepSink
    from ometer_tui.core.telemetry.config import TelemetrySettings
    from ometer_tui.core.telemetry.recording import TelemetryRecording
    from ometer_tui.core.telemetry.sampler import TelemetrySampler

#: How often the UI drains the queue (Hz): enough to feel live, far below token rates.
DRAIN_HZ = 5.0

#: The interpreter's thread switch interval while a benchmark runs beside the UI.
ENGINE_SWITCH_INTERVAL_S = 0.0005

_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextlib.contextmanager
def short_switch_interval() -> Iterator[None]:
    """Cut the switch interval while any benchmark runs; restore it after the last one."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, ENGINE_SWITCH_INTERVAL_S))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class Runner(Protocol):
    """What the bridge needs of ``ometer_tui.core.bench.runner.BenchmarkRunner``."""

    async def run(self) -> BenchmarkResult: ...

    def cancel(self) -> None: ...


RunnerFactory = Callable[[BenchmarkPlan, Callable[[BenchmarkEvent], None], bool], Runner]
#: (plan, on_sample) -> the sampler to run beside the benchmark
TelemetryFactory = Callable[
    [BenchmarkPlan, Callable[["TelemetryRecording"], None]], "TelemetrySampler"
]


class _HasResult(Protocol):
    result: BenchmarkResult


def default_telemetry_factory(
    plan: BenchmarkPlan, on_sample: Callable[[TelemetryRecording], None]
) -> TelemetrySampler:
    """The plan's endpoint's telemetry at the default interval (the headless default)."""
    from ometer_tui.core.telemetry.sampler import TelemetrySampler

    return TelemetrySampler(plan.endpoint, on_sample=on_sample)


def telemetry_factory(settings: TelemetrySettings) -> TelemetryFactory | None:
    """What the settings' ``[telemetry]`` asks for: ``None`` when off (no sampler at all),
    else samplers at its interval (the endpoint's ``metrics_url`` is the sampler's)."""
    if not settings.enabled:
        return None
    if settings.interval_s == DEFAULT_INTERVAL_S:
        return default_telemetry_factory

    def at_interval(
        plan: BenchmarkPlan, on_sample: Callable[[TelemetryRecording], None]
    ) -> TelemetrySampler:
        from ometer_tui.core.telemetry.sampler import TelemetrySampler

        return TelemetrySampler(plan.endpoint, interval_s=settings.interval_s, on_sample=on_sample)

    return at_interval


#: The environment variable that picks where the engine runs: ``process`` (the default on
#: Linux and macOS) or ``thread`` (the bridge's own thread, sharing the UI's interpreter).
ENGINE_ENV = "OMETER_TUI_ENGINE"


def thread_runner_factory(
    plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log_exchanges: bool
) -> Runner:
    """The engine on the bridge's thread, reporting its load beside its events (one
    engine as ``shards.runner_for`` makes it, headless's rule too)."""
    from ometer_tui.core.bench.shards import runner_for

    return runner_for(plan, on_event, workers=1, log_exchanges=log_exchanges)


def process_runner_factory(
    plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log_exchanges: bool
) -> Runner:
    """The engine in a process of its own (it reports its load from there)."""
    from ometer_tui.core.bench.process_runner import ProcessRunner

    return ProcessRunner(plan, on_event, log_exchanges=log_exchanges)


def default_runner_factory(
    plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log_exchanges: bool
) -> Runner:
    """Per ``OMETER_TUI_ENGINE``: the process runner unless it says ``thread`` (or the
    platform has no Unix sockets to talk to it over: Windows runs it in the thread).
    A plan on several workers (``plan.workers``, or chosen by ``shards.workers_to_run``
    when it is blank: :func:`chosen_workers`) is split across that many engine processes
    and merged (``shards.runner_for``); in thread mode the shards share the thread's
    loop. A plan with a Ray address runs on that cluster (:func:`ray_runner_factory`)."""
    if plan.ray_address is not None:
        return ray_runner_factory(plan, on_event, log_exchanges)
    in_thread = os.environ.get(ENGINE_ENV, "").strip().lower() == "thread" or os.name != "posix"
    workers = plan.workers
    if workers is None:  # the run panel's Workers left blank: chosen (self-calibration)
        workers = chosen_workers(plan, on_event)  # on the bridge's thread, never the UI's
    if workers > 1:
        from ometer_tui.core.bench.shards import (
            in_loop_shard_factory,
            process_shard_factory,
            runner_for,
        )

        shards = (in_loop_shard_factory if in_thread else process_shard_factory)(log_exchanges)
        merged = runner_for(
            plan, on_event, workers=workers, log_exchanges=log_exchanges, shard_factory=shards
        )
        if in_thread:  # the shards share the bridge's loop: one report for all of them
            from ometer_tui.core.bench.load_report import ReportingRunner

            return ReportingRunner(merged, on_event)
        return merged
    if in_thread:
        return thread_runner_factory(plan, on_event, log_exchanges)
    return process_runner_factory(plan, on_event, log_exchanges)


def chosen_workers(plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None]) -> int:
    """The workers chosen for ``plan`` (self-calibration), its lines told to the UI as
    :class:`EngineNotice` events (``shards.workers_told``, the lines headless prints):
    the calibration being measured, the choice when it is more than one worker, and the
    warning when the load asked is past what this machine measures honestly. Blocking
    (a first calibration takes about 7 s)."""
    from ometer_tui.core.bench.shards import workers_told

    def note(line: str) -> None:
        on_event(EngineNotice(line))

    def warn(line: str) -> None:
        on_event(EngineNotice(line, warning=True))

    return workers_told(plan, note, warn)


def ray_runner_factory(
    plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log_exchanges: bool
) -> Runner:
    """The plan's workers as Ray actors on the cluster at ``plan.ray_address``, joined
    here (blocking, on the bridge's thread): ``plan.workers``, else one per alive node
    (``ray_shards.ray_workers``, headless ``--ray``'s rule). The cluster's layout and
    where each actor runs are told as :class:`EngineNotice` events. Without Ray, or
    when the cluster cannot be joined, it raises ``RayUnavailable`` (one line: the run
    fails at its start, on the results screen)."""
    from ometer_tui.core.bench.ray_shards import (
        Placement,
        RayShardFactory,
        cluster_line,
        cluster_nodes,
        ray_runner_for,
        ray_workers,
    )

    address = plan.ray_address or "auto"
    nodes = cluster_nodes(address)  # RayUnavailable: no Ray, or no cluster there
    workers = ray_workers(plan.workers, nodes)
    on_event(EngineNotice(cluster_line(plan, address, nodes, workers)))

    def placed(where: Placement) -> None:
        on_event(EngineNotice(where.describe()))

    factory = RayShardFactory(address, on_placed=placed, log_exchanges=log_exchanges)
    return ray_runner_for(
        plan, on_event, workers=workers, factory=factory, log_exchanges=log_exchanges
    )


def shut_down_engines() -> None:
    """The app goes away: let the idle engine processes go (a running one ends with
    its run, which the session cancels)."""
    engines = sys.modules.get("ometer_tui.core.bench.process_runner")
    if engines is not None:  # (never imported: no engine was ever started)
        engines.shut_down_idle()


def steps_runner_factory(steps: StepsRequest, inner: RunnerFactory) -> RunnerFactory:
    """Runners of a series of steps (``SweepRunner``: a sweep, SLOs or repeats), each
    step's engine made by ``inner``. Its events (``StepStarted``, ``StepFinished``,
    ``SweepFinished`` beside the engine's) reach the same queue."""

    def make(
        plan: BenchmarkPlan, on_event: Callable[[BenchmarkEvent], None], log_exchanges: bool
    ) -> Runner:
        from ometer_tui.core.bench.sweep import SweepRunner

        def each_step(p: BenchmarkPlan, sink: Callable[[BenchmarkEvent], None]) -> Runner:
            return inner(p, sink, log_exchanges)

        sink = cast("SweepSink", on_event)  # the queue takes the step events too
        return SweepRunner(
            plan, sink, slo=steps.slo, default_duration_s=steps.default_duration_s,
            job=steps.job, runner_factory=each_step,  # type: ignore[arg-type]
        )  # fmt: skip

    return make


class BenchmarkBridge:
    """One benchmark's runner, its event queue and its cancellation, across threads."""

    def __init__(
        self,
        plan: BenchmarkPlan,
        *,
        runner_factory: RunnerFactory = default_runner_factory,
        log_exchanges: bool = True,
        telemetry: TelemetryFactory | None = None,
    ) -> None:
        self.plan = plan
        self._telemetry = telemetry
        self._snapshot: TelemetrySnapshot | None = None
        self._factory = runner_factory
        self._log_exchanges = log_exchanges
        self._events: deque[BenchmarkEvent] = deque()
        self._lock = threading.Lock()
        self._runner: Runner | None = None
        self._cancel_requested = False
        self._finished = threading.Event()
        #: set by :meth:`run_to_end` before ``finished`` turns true
        self.outcome: BenchmarkResult | None = None
        self.error: str | None = None

    # -- engine side (the benchmark's thread)

    def on_event(self, event: BenchmarkEvent) -> None:
        """The runner's sink: must stay cheap, it runs between socket reads."""
        self._events.append(event)

    def on_telemetry(self, rec: TelemetryRecording) -> None:
        """The sampler's ``on_sample`` (engine loop): keep only the latest snapshot."""
        made = snapshot(rec)
        with self._lock:
            self._snapshot = made

    def run_blocking(self) -> BenchmarkResult:
        """Build the runner and run it to the end on a loop of its own (worker thread)."""
        try:
            return self._run()
        finally:
            self._finished.set()

    def run_to_end(self) -> None:
        """:meth:`run_blocking` that never raises: the result (``outcome``) or the
        failure (``error``) is kept before ``finished`` turns true, so whoever sees
        ``finished`` (the UI's drain timer) sees the outcome too."""
        try:
            self.outcome = self._run()
        except BaseException as exc:  # report every failure; never take the app down
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._finished.set()

    def _run(self) -> BenchmarkResult:
        sampler = self._telemetry(self.plan, self.on_telemetry) if self._telemetry else None
        sink = self.on_event
        if sampler is not None:
            observe = first_start_only(sampler.observe)  # a sweep: each step starts again

            def sink(event: BenchmarkEvent) -> None:
                observe(event)
                self._events.append(event)

        runner = self._factory(self.plan, sink, self._log_exchanges)
        with self._lock:
            self._runner = runner
            cancel_now = self._cancel_requested
        if cancel_now:
            runner.cancel()
        with short_switch_interval():
            if sampler is None:
                return run_engine(runner.run())
            owner = cast(_HasResult, runner)
            return run_engine(sampler.during(runner.run(), lambda: owner.result))

    # -- UI side (any thread)

    def drain(self) -> tuple[BenchmarkEvent, ...]:
        """Every event queued so far, oldest first."""
        out: list[BenchmarkEvent] = []
        pop = self._events.popleft
        while True:
            try:
                out.append(pop())
            except IndexError:
                return tuple(out)

    def take_telemetry(self) -> TelemetrySnapshot | None:
        """The latest telemetry snapshot not taken yet (``None``: nothing new)."""
        with self._lock:
            taken, self._snapshot = self._snapshot, None
        return taken

    @property
    def pending(self) -> int:
        return len(self._events)

    def cancel(self) -> None:
        """Ask the runner to stop; finished runs are kept. Safe from any thread."""
        with self._lock:
            self._cancel_requested = True
            runner = self._runner
        if runner is not None:
            runner.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)
