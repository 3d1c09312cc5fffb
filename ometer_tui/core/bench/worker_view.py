"""What the engine workers' load reports (:class:`WorkerLoad`) say, as words and figures.

A :class:`WorkerBoard` keeps the latest report of each worker and each worker's peak
event-loop lag; from them it tells the rows to show (live, stale or not heard from yet),
the totals, a one-line summary and the warning when the client is the bottleneck. The
results screen's workers strip and headless progress both read it, so they say the same.

Time is given (``now``: a monotonic clock's seconds), never read here: a worker whose
latest report is older than ``stale_after_s`` is *stale*, and its numbers are not shown
as live nor counted in the totals. Workers are numbered from 1 in every text (the
events' ``worker`` is 0-based).
"""

from __future__ import annotations

from dataclasses import dataclass

from ometer_tui.core.bench.events import WORKER_LAG_WARN_MS, WorkerLoad

__all__ = [
    "BUSY_CPU_PERCENT",
    "STALE_AFTER_S",
    "WorkerBoard",
    "WorkerRow",
    "machine_busy",
    "overload_advice",
    "overload_text",
    "worker_label",
]

#: A worker silent for longer than this (seconds) while the benchmark runs is stale.
STALE_AFTER_S = 3.0


def worker_label(worker: int) -> str:
    """``worker 1`` for the 0-based index 0."""
    return f"worker {worker + 1}"


#: A worker lagging while it uses less CPU than this (% of one core) is not overloaded by
#: the benchmark: other processes hold the cores, and more workers would not help. Low:
#: an engine's own work comes in waves (runs that end together), and the calibration saw
#: it lag 9.7 ms at 34% of a core with nothing else running; at a few % it is not its own.
BUSY_CPU_PERCENT = 10.0


def machine_busy(report: WorkerLoad) -> bool:
    """The worker's loop lags while the worker itself is mostly idle: the machine is
    busy with something else (the advice differs: more workers would not help)."""
    return report.cpu_percent < BUSY_CPU_PERCENT


def overload_text(report: WorkerLoad, *, more: int = 0) -> str:
    """``the client is the bottleneck here (worker 2 lag p99 7.2 ms)`` (``more``: other
    workers past the limit too); a worker lagging at low CPU: ``the machine is busy:
    worker 1 runs late (lag p99 4.0 ms at 2% CPU)``."""
    others = f", {more} more" if more else ""
    if machine_busy(report):
        return (
            f"the machine is busy: {worker_label(report.worker)} runs late (lag p99 "
            f"{report.lag_p99_ms:.1f} ms at {report.cpu_percent:.0f}% CPU{others})"
        )
    return (
        f"the client is the bottleneck here ({worker_label(report.worker)} lag p99 "
        f"{report.lag_p99_ms:.1f} ms{others})"
    )


def overload_advice(report: WorkerLoad) -> str:
    """What to do about :func:`overload_text`'s warning, in a few words."""
    if machine_busy(report):
        return "its timings may run late: other processes hold the cores"
    return "its timings run late: fewer streams or more workers"


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker as shown: its latest report (``None``: not heard from yet), how old it
    is, and whether it is stale."""

    worker: int  # 0-based
    report: WorkerLoad | None
    age_s: float | None  # seconds since its latest report (``None``: no report yet)
    stale: bool
    peak_lag_ms: float | None  # the highest lag p99 it reported

    @property
    def live(self) -> WorkerLoad | None:
        """The report, when it is fresh enough to show as live."""
        return None if self.stale else self.report

    @property
    def overloaded(self) -> bool:
        """Its live report's lag p99 is past :data:`WORKER_LAG_WARN_MS`."""
        return self.live is not None and self.live.overloaded

    @property
    def label(self) -> str:
        return worker_label(self.worker)

    def state(self) -> str:
        """``stale (no report for 5 s)``, ``no report yet``, or ``live``."""
        if self.report is None:
            return "no report yet" if not self.stale else "no report"
        if self.stale:
            return f"stale (no report for {self.age_s or 0:.0f} s)"
        return "live"


@dataclass(frozen=True, slots=True)
class _Seen:
    report: WorkerLoad
    at: float  # ``now`` when it was applied
    peak_lag_ms: float
    peak: WorkerLoad  # the report with that lag (its CPU says whose doing the lag was)


class WorkerBoard:
    """The latest :class:`WorkerLoad` of every worker of one benchmark.

    ``ray``: the workers are Ray actors (the layout says so).
    """

    def __init__(self, *, ray: bool = False, stale_after_s: float = STALE_AFTER_S) -> None:
        self.ray = ray
        self.stale_after_s = stale_after_s
        self._seen: dict[int, _Seen] = {}
        self._workers = 0
        self._first_at: float | None = None
        self._warned: set[int] = set()

    # ------------------------------------------------------------------ feeding

    def apply(self, event: WorkerLoad, now: float) -> bool:
        """Keep ``event`` as its worker's latest report, received at ``now``. True when
        it is the first report of this worker past the lag limit (headless prints the
        :meth:`warning` then, once per worker)."""
        if self._first_at is None:
            self._first_at = now
        self._workers = max(self._workers, event.workers, event.worker + 1)
        before = self._seen.get(event.worker)
        if before is None or event.lag_p99_ms > before.peak_lag_ms:
            self._seen[event.worker] = _Seen(event, now, event.lag_p99_ms, event)
        else:
            self._seen[event.worker] = _Seen(event, now, before.peak_lag_ms, before.peak)
        if event.overloaded and event.worker not in self._warned:
            self._warned.add(event.worker)
            return True
        return False

    # ----------------------------------------------------------------- queries

    @property
    def empty(self) -> bool:
        """No report came (a result loaded from the history, or one not started)."""
        return not self._seen

    @property
    def workers(self) -> int:
        """How many workers the benchmark runs (as the reports say)."""
        return self._workers

    @property
    def nodes(self) -> int:
        """The distinct hosts the reporting workers run on."""
        return len({seen.report.node for seen in self._seen.values()})

    def layout(self) -> str:
        """``2 workers on 1 node``, ``4 workers on 2 nodes (ray)``, ``1 worker``."""
        n, nodes = self._workers, self.nodes
        text = f"{n} worker{'s' if n != 1 else ''}"
        if n > 1 or nodes > 1 or self.ray:
            text += f" on {nodes} node{'s' if nodes != 1 else ''}"
        return text + (" (ray)" if self.ray else "")

    def rows(self, now: float | None = None) -> list[WorkerRow]:
        """Every worker, in order. ``now`` ``None``: nothing is stale (the benchmark is
        over: the latest reports are final figures, however old)."""
        rows = []
        for worker in range(self._workers):
            seen = self._seen.get(worker)
            if seen is None:
                waited = None if now is None or self._first_at is None else now - self._first_at
                stale = waited is not None and waited > self.stale_after_s
                rows.append(WorkerRow(worker, None, None, stale, None))
                continue
            age = None if now is None else max(0.0, now - seen.at)
            stale = age is not None and age > self.stale_after_s
            rows.append(WorkerRow(worker, seen.report, age, stale, seen.peak_lag_ms))
        return rows

    def in_flight(self, now: float | None = None) -> int | None:
        """Requests in flight across the workers with a live report (``None``: none)."""
        live = [r.live for r in self.rows(now) if r.live is not None]
        return sum(report.in_flight for report in live) if live else None

    def worst(self, now: float | None = None) -> WorkerRow | None:
        """The live worker with the highest lag p99 (``None``: no live report)."""
        live = [r for r in self.rows(now) if r.live is not None]
        return max(live, key=lambda r: r.live.lag_p99_ms if r.live else 0.0, default=None)

    def summary_phrases(self, now: float | None = None) -> list[str]:
        """The summary's phrases, most important first: the layout, the worst lag,
        requests in flight, chunks/s and CPU summed over the live workers, stale ones.
        (A front end may drop the last ones when short of room.) After the end (``now``
        ``None``): the layout and the highest lag p99 any worker reported."""
        if now is None:
            return [self.layout(), *self._peak_phrase()]
        rows = self.rows(now)
        live = [r.live for r in rows if r.live is not None]
        phrases = [self.layout()]
        worst = self.worst(now)
        if worst is not None and worst.live is not None:
            who = f" ({worst.label})" if self._workers > 1 else ""
            phrases.append(f"lag p99 {worst.live.lag_p99_ms:.1f} ms{who}")
        if live:
            phrases.append(f"{sum(r.in_flight for r in live)} in flight")
            phrases.append(f"{sum(r.chunks_per_s for r in live):,.0f} chunks/s")
            phrases.append(f"CPU {sum(r.cpu_percent for r in live):.0f}%")
        stale = sum(1 for r in rows if r.stale)
        if stale:
            phrases.append(f"{stale} stale" if stale < len(rows) else "no live report")
        return phrases

    def _peak_phrase(self) -> list[str]:
        if not self._seen:
            return []
        peak, worker = max((s.peak_lag_ms, w) for w, s in self._seen.items())
        who = f" ({worker_label(worker)})" if self._workers > 1 else ""
        return [f"lag p99 peak {peak:.1f} ms{who}"]

    def summary_line(self, now: float | None = None) -> str:
        """:meth:`summary_phrases` joined: ``2 workers on 1 node · lag p99 7.2 ms
        (worker 2) · 37 in flight · 12,345 chunks/s · CPU 182%``."""
        return " · ".join(self.summary_phrases(now))

    def advice(self, now: float) -> str | None:
        """While it runs: what to do about :meth:`warning` (``None``: no warning)."""
        over = [r.live for r in self.rows(now) if r.overloaded and r.live is not None]
        if not over:
            return None
        return overload_advice(max(over, key=lambda report: report.lag_p99_ms))

    def warning(self, now: float | None = None) -> str | None:
        """While it runs (``now`` given): ``the client is the bottleneck here (worker 2
        lag p99 7.2 ms)`` when a live worker's lag p99 is past the limit. After the end
        (``now`` ``None``): ``the client was the bottleneck at times (worker 2 lag p99
        up to 7.2 ms)`` when any report was; when that worst report came at low CPU
        (:func:`machine_busy`), ``the machine was busy at times: worker 1 ran late (lag
        p99 up to 6.4 ms at 7% CPU)``, as while it runs. ``None``: no worker was."""
        if now is not None:
            over = [r for r in self.rows(now) if r.overloaded]
            if not over:
                return None
            reports = [r.live for r in over if r.live is not None]
            worst = max(reports, key=lambda report: report.lag_p99_ms)
            return overload_text(worst, more=len(reports) - 1)
        peaks = [(s.peak_lag_ms, w) for w, s in self._seen.items()]
        peak, worker = max(peaks, default=(0.0, 0))
        if peak <= WORKER_LAG_WARN_MS:
            return None
        worst = self._seen[worker].peak
        if machine_busy(worst):
            return (
                f"the machine was busy at times: {worker_label(worker)} ran late (lag p99 "
                f"up to {peak:.1f} ms at {worst.cpu_percent:.0f}% CPU)"
            )
        return (
            f"the client was the bottleneck at times ({worker_label(worker)} lag p99 "
            f"up to {peak:.1f} ms)"
        )
