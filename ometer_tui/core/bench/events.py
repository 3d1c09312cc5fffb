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


@dataclass(frozen=True, slots=True)
class ModelPhaseChanged:
    model: str
    phase: ModelPhase


@dataclass(frozen=True, slots=True)
class RunFinished:
    record: RunRecord
    model_done: int  # measured runs finished for this model
    model_total: int


@dataclass(frozen=True, slots=True)
class ModelFinished:
    model: str
    summary: ModelSummary
    phase: ModelPhase


@dataclass(frozen=True, slots=True)
class BenchmarkFinished:
    cancelled: bool


BenchmarkEvent = (
    BenchmarkStarted
    | ModelPhaseChanged
    | RunFinished
    | ModelFinished
    | BenchmarkFinished
    | ExchangeLogged
)
