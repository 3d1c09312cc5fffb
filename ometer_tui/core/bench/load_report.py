"""How hard this engine works: a :class:`WorkerLoad` about once a second, from its loop.

The figures come from counters the hot paths bump (``core/load_counters.py``: a chunk
read, a request sent or answered: one integer each) and from the process itself (CPU
time, resident memory). Loop lag is a probe timer's lateness: every ``TICK_S`` it asks
to be woken at a precise time and notes how late it woke up; the report gives the p99
of those lateness figures over its interval. On uvloop a timer's deadline is rounded to
the millisecond, so an idle loop already reads up to about 1 ms: the lag that matters
(``WORKER_LAG_WARN_MS``, 3 ms) is well above that floor.

Cost: ``1 / TICK_S`` timer callbacks a second (a few microseconds each) and one report a
second; nothing on the path of a chunk beyond the counter.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from ometer_tui.core.bench.events import WorkerLoad
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.load_counters import COUNTERS

T = TypeVar("T")

#: How often the report goes out (seconds).
REPORT_INTERVAL_S = 1.0
#: The lag probe's period (seconds): 100 samples per report.
TICK_S = 0.01
#: A last report when the engine stops is sent only if it covers at least this long.
MIN_LAST_INTERVAL_S = 0.2

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux: /proc), else ``None``."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))]


class LoadReporter:
    """Emits a :class:`WorkerLoad` every ``interval_s`` on the running loop while started."""

    def __init__(
        self,
        emit: Callable[[WorkerLoad], None],
        *,
        worker: int = 0,
        workers: int = 1,
        interval_s: float = REPORT_INTERVAL_S,
        tick_s: float = TICK_S,
    ) -> None:
        self._emit = emit
        self.worker = worker
        self.workers = workers
        self.interval_s = interval_s
        self.tick_s = tick_s
        self.node = socket.gethostname()
        self.pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._lateness_ms: list[float] = []
        self._due_ns = 0
        self._since_ns = 0
        self._cpu_since = 0.0
        self._chunks_since = 0

    def start(self) -> None:
        """Start on the running loop (call from it)."""
        self._loop = asyncio.get_running_loop()
        self._mark(time.perf_counter_ns())
        self._due_ns = self._since_ns
        self._schedule()

    def stop(self, *, last: bool = True) -> None:
        """Stop; ``last``: send what the partial interval measured (if long enough)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if last and self._loop is not None:
            now = time.perf_counter_ns()
            if (now - self._since_ns) / 1e9 >= MIN_LAST_INTERVAL_S:
                self._report(now)
        self._loop = None

    def _mark(self, now_ns: int) -> None:
        self._since_ns = now_ns
        self._cpu_since = time.process_time()
        self._chunks_since = COUNTERS.chunks
        self._lateness_ms = []

    def _schedule(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._due_ns += round(self.tick_s * 1e9)
        delay = (self._due_ns - time.perf_counter_ns()) / 1e9
        self._handle = loop.call_later(max(0.0, delay), self._tick)

    def _tick(self) -> None:
        now = time.perf_counter_ns()
        late_ns = now - self._due_ns
        self._lateness_ms.append(max(0.0, late_ns / 1e6))
        if late_ns > 10 * self.tick_s * 1e9:
            self._due_ns = now  # a long stall: the probe's schedule starts again from now
        if (now - self._since_ns) / 1e9 >= self.interval_s:
            self._report(now)
        self._schedule()

    def _report(self, now_ns: int) -> None:
        elapsed = (now_ns - self._since_ns) / 1e9
        if elapsed <= 0:
            return
        cpu = time.process_time() - self._cpu_since
        chunks = COUNTERS.chunks - self._chunks_since
        lag = p99(self._lateness_ms)
        self._mark(now_ns)
        self._emit(
            WorkerLoad(
                worker=self.worker,
                workers=self.workers,
                node=self.node,
                pid=self.pid,
                interval_s=elapsed,
                chunks_per_s=chunks / elapsed,
                cpu_percent=100.0 * cpu / elapsed,
                lag_p99_ms=lag,
                in_flight=COUNTERS.in_flight,
                rss_bytes=rss_bytes(),
            )
        )


async def reporting(
    main: Awaitable[T],
    emit: Callable[[WorkerLoad], None],
    *,
    worker: int = 0,
    workers: int = 1,
    interval_s: float = REPORT_INTERVAL_S,
) -> T:
    """Await ``main`` (a runner's ``run()``) with a :class:`LoadReporter` beside it on the
    same loop; a last report covers the end when it is long enough to mean something."""
    reporter = LoadReporter(emit, worker=worker, workers=workers, interval_s=interval_s)
    reporter.start()
    try:
        return await main
    finally:
        reporter.stop()


class _Inner(Protocol):
    @property
    def result(self) -> BenchmarkResult: ...

    async def run(self) -> BenchmarkResult: ...

    def cancel(self) -> None: ...


class ReportingRunner:
    """``inner`` (a runner on this process's loop) with its :class:`WorkerLoad` reports
    going to ``emit`` beside its events: the engine in a thread reports as the engine in
    a process does (``process_runner`` reports from the child)."""

    def __init__(
        self,
        inner: _Inner,
        emit: Callable[[WorkerLoad], None],
        *,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        self.inner = inner
        self._emit = emit
        self.worker = worker
        self.workers = workers
        self._cancel_requested = False

    @property
    def result(self) -> BenchmarkResult:
        return self.inner.result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        self._cancel_requested = True
        self.inner.cancel()

    async def run(self) -> BenchmarkResult:
        return await reporting(
            self.inner.run(), self._emit, worker=self.worker, workers=self.workers
        )
