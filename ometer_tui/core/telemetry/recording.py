"""What telemetry keeps: bounded series on the engine's clock, source states, events.

Everything here is plain data filled by :class:`~ometer_tui.core.telemetry.sampler.
TelemetrySampler` on the engine's event loop; readers (export, the summary, a UI panel)
read it there or after the sampler stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ometer_tui.core.telemetry.prometheus import Histogram

#: Points kept per series; past it, every other point is dropped (the whole run stays
#: covered at half the resolution), so a long run holds a bounded amount of memory.
MAX_POINTS = 4096


class SourceKind(StrEnum):
    PROMETHEUS = "prometheus"  # /metrics (vLLM, SGLang, TGI, llama.cpp)
    LLAMACPP_SLOTS = "llamacpp_slots"  # /slots
    LLAMACPP_PROPS = "llamacpp_props"  # /props (read once)
    OLLAMA_PS = "ollama_ps"  # /api/ps


@dataclass(slots=True)
class SourceState:
    """Whether a source answers, and why not when it does not (no credential in it)."""

    kind: SourceKind
    url: str  # public form: no credentials, no query string
    available: bool = False
    reason: str | None = None  # "404 Not Found", "no answer within 0.8 s"...
    samples: int = 0
    failures: int = 0
    polling: bool = False  # still polled (stops after repeated failures)

    def describe(self) -> str:
        if self.available:
            return "ok"
        return f"unavailable: {self.reason or 'not checked'}"


@dataclass(slots=True)
class Series:
    """One metric over time: ``points`` are (perf_counter_ns, value)."""

    source: SourceKind
    metric: str  # our key, e.g. "requests_running", "slots_busy"
    unit: str
    name: str  # the server's own name for it (e.g. "vllm:num_requests_running")
    label: str = ""  # e.g. the model an Ollama series is about
    points: list[tuple[int, float]] = field(default_factory=list)
    stride: int = 1  # 1 = every sample kept; doubles each time the series is thinned
    _skipped: int = 0

    def add(self, t_ns: int, value: float) -> None:
        if self._skipped + 1 < self.stride:
            self._skipped += 1
            return
        self._skipped = 0
        self.points.append((t_ns, value))
        if len(self.points) >= MAX_POINTS:
            self.points = self.points[::2]
            self.stride *= 2

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """Something the server did that a reader should know about (e.g. a model reload)."""

    t_ns: int  # the sample that saw it
    since_ns: int  # the sample before: it happened between the two
    source: SourceKind
    kind: str  # "reloaded", "unloaded", "loaded"
    model: str
    detail: str = ""


@dataclass(slots=True)
class TelemetryRecording:
    """Everything telemetry saw during one benchmark."""

    interval_s: float
    sources: dict[SourceKind, SourceState] = field(default_factory=dict)
    series: dict[tuple[SourceKind, str, str], Series] = field(default_factory=dict)
    #: (key, model label) -> (first, last) cumulative histogram seen
    histograms: dict[tuple[str, str], tuple[Histogram, Histogram]] = field(default_factory=dict)
    #: key -> (first, last) cumulative counter value seen
    counters: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: what the server said about itself (llama.cpp /props, slot context sizes...)
    server: dict[str, str | int | float] = field(default_factory=dict)
    events: list[TelemetryEvent] = field(default_factory=list)
    #: the benchmark's clock origin (perf_counter_ns); ``None`` until it started
    origin_ns: int | None = None
    started_ns: int = 0  # when sampling began
    stopped_ns: int | None = None
    #: a recording read back from an export (``core/telemetry/restore.py``) lacks what
    #: its derived sections were computed from (unrounded samples, histogram buckets,
    #: the live clock): those sections as written (``summary``, ``histograms``,
    #: ``ttft_client_vs_server``, ``model_events``), so a re-export writes them unchanged
    saved_sections: dict[str, list[dict[str, Any]]] | None = None

    def series_for(
        self, source: SourceKind, metric: str, unit: str, name: str, label: str = ""
    ) -> Series:
        key = (source, metric, label)
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = Series(source, metric, unit, name, label)
        return found

    def t_s(self, t_ns: int) -> float:
        """Seconds since the benchmark started (negative: before it)."""
        origin = self.origin_ns if self.origin_ns is not None else self.started_ns
        return (t_ns - origin) / 1e9

    @property
    def any_available(self) -> bool:
        return any(s.available for s in self.sources.values())
