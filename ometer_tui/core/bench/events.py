"""Typed events the engine emits; the TUI and the headless command consume them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.models import ModelInfo


class ModelPhase(StrEnum):
    QUEUED = "queued"
    WARMING = "warming"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # every measured run failed
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class BenchmarkStarted:
    models: tuple[ModelInfo, ...]
    total_runs: int  # measured + warm-up requests across all models
    warmup_requests: int
    #: a benchmark of several endpoints: the endpoint of each entry of ``models`` (a
    #: model served by two endpoints is listed twice); empty for one endpoint
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelPhaseChanged:
    model: str
    phase: ModelPhase
    endpoint: str | None = None  # several endpoints: which one (see result.row_key)


@dataclass(frozen=True, slots=True)
class RunFinished:
    record: RunRecord
    model_done: int  # measured runs finished for this model
    model_total: int
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class RunRetrying:
    """A run's attempt failed before the first byte; the next is sent after ``wait_s``."""

    model: str
    attempt: int  # the attempt that failed (1 = the first request)
    max_attempts: int
    wait_s: float
    reason: str  # the failed attempt's error
    server_asked: bool  # the wait is the server's Retry-After, not our own backoff
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class ModelFinished:
    model: str
    summary: ModelSummary
    phase: ModelPhase
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class BenchmarkFinished:
    cancelled: bool


#: A worker whose event-loop lag p99 goes past this is the bottleneck: its stamps and
#: sends can no longer be trusted to the millisecond (the dashboard warns).
WORKER_LAG_WARN_MS = 3.0


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """How hard one engine worker (the engine's process, one of ``--workers``, or a Ray
    actor) is working, reported about once a second while it runs.

    Figures cover the interval since the worker's previous report. The consumers (the
    results header, headless progress) show them; the fold ignores them.
    """

    worker: int  # 0-based shard index (0 for a single engine)
    workers: int  # how many workers the benchmark runs
    node: str  # the host the worker runs on
    pid: int
    interval_s: float  # the time these figures cover
    chunks_per_s: float  # stream chunks (reads carrying data) read per second
    cpu_percent: float  # the worker process's CPU time over the interval (100 = one core)
    lag_p99_ms: float  # event-loop lag p99 over the interval (a periodic timer's lateness)
    in_flight: int  # requests in flight in this worker at the report
    rss_bytes: int | None = None  # resident memory, where the platform tells it

    @property
    def overloaded(self) -> bool:
        return self.lag_p99_ms > WORKER_LAG_WARN_MS


@dataclass(frozen=True, slots=True)
class EngineNotice:
    """A line the user should read about how the benchmark is run (not a measurement):
    the workers chosen automatically and why, a calibration being measured, where Ray
    placed a worker. ``warning``: the numbers may not be trusted as they are (e.g. the
    load asked is past what this machine can measure). Headless prints these lines
    itself; the dashboard gets them as events; the fold ignores them."""

    text: str
    warning: bool = False


BenchmarkEvent = (
    BenchmarkStarted
    | ModelPhaseChanged
    | RunFinished
    | RunRetrying
    | ModelFinished
    | BenchmarkFinished
    | WorkerLoad
    | EngineNotice
    | ExchangeLogged
)
