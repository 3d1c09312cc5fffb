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


BenchmarkEvent = (
    BenchmarkStarted
    | ModelPhaseChanged
    | RunFinished
    | RunRetrying
    | ModelFinished
    | BenchmarkFinished
    | ExchangeLogged
)
