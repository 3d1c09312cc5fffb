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
    #: the endpoint (its name) this row was measured on, in a benchmark of several
    #: endpoints; ``None`` for a one-endpoint benchmark
    endpoint: str | None = None


#: Between the endpoint and the model in a row key (a character no name holds).
ROW_KEY_SEPARATOR = "\x1f"


def row_key(endpoint: str | None, model: str) -> str:
    """The key of a row in :attr:`BenchmarkResult.models`: rows are keyed by (endpoint,
    model). A one-endpoint benchmark (``endpoint`` None) keys its rows by the model's
    name alone, as it always did. Show ``ModelResult.info.name`` and
    ``ModelResult.endpoint``, never the key."""
    return model if endpoint is None else f"{endpoint}{ROW_KEY_SEPARATOR}{model}"


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
    #: a benchmark of several endpoints: each endpoint's server (by endpoint name);
    #: ``server`` is the first endpoint's
    servers: dict[str, ServerInfo | None] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """Any endpoint of the benchmark is the simulated demo endpoint."""
        return any(ep.simulated for ep in self.plan.endpoints)

    @property
    def multi_endpoint(self) -> bool:
        return self.plan.multi_endpoint

    def server_of(self, endpoint: str | None) -> ServerInfo | None:
        """The server of the endpoint named ``endpoint`` (``None``: the benchmark's)."""
        if endpoint is None or not self.servers:
            return self.server
        return self.servers.get(endpoint)
