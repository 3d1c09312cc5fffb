"""A whole benchmark's outcome: what export, history and the screens read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.models import ModelInfo, ServerInfo

if TYPE_CHECKING:
    from ometer_tui.core.bench.steps import SweepRecord
    from ometer_tui.core.telemetry.recording import TelemetryRecording


@dataclass(slots=True)
class ModelResult:
    info: ModelInfo
    records: list[RunRecord] = field(default_factory=list)
    summary: ModelSummary | None = None
    phase: ModelPhase = ModelPhase.QUEUED
    #: backend details seen on this model's responses (Server, x-backend,
    #: system_fingerprint...), first value seen for each key
    backend: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BenchmarkResult:
    plan: BenchmarkPlan
    started_at: datetime  # UTC
    server: ServerInfo | None = None
    finished_at: datetime | None = None
    cancelled: bool = False
    warmup_requests: int = 0
    models: dict[str, ModelResult] = field(default_factory=dict)
    #: the server's own telemetry during the run (``None`` when off); see core/telemetry
    telemetry: TelemetryRecording | None = None
    #: a sweep, an SLO search or repeats: the steps (core/bench/sweep.py); None otherwise
    sweep: SweepRecord | None = None

    @property
    def simulated(self) -> bool:
        return self.plan.endpoint.simulated
