"""What a live telemetry panel shows, as immutable values built from a recording.

A :class:`TelemetrySnapshot` is made on the engine's loop after each poll (the recording
is mutated there) and handed to a UI thread as is: plain frozen data, no reference to
the recording. Live snapshots are cheap (the current value and the last few points of
each series); the final one (after the sampler stopped) adds peaks and means.
"""

from __future__ import annotations

from dataclasses import dataclass

from ometer_tui.core.telemetry.recording import TelemetryRecording
from ometer_tui.core.telemetry.summary import summarise

#: points of each series kept for a sparkline
HISTORY_POINTS = 60


@dataclass(frozen=True, slots=True)
class SourceView:
    """One source and its state: "ok" or "unavailable: <reason>"."""

    source: str
    state: str
    available: bool


@dataclass(frozen=True, slots=True)
class SeriesView:
    """One series: its latest value, its recent history, and (final) peak and mean."""

    source: str
    metric: str
    label: str
    unit: str
    current: float
    history: tuple[float, ...]
    peak: float | None = None
    mean: float | None = None
    #: when each ``history`` value was sampled: seconds since the benchmark started
    #: (the client's time axis of the run's charts)
    times: tuple[float, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.metric, self.label)


@dataclass(frozen=True, slots=True)
class TelemetrySnapshot:
    """Telemetry as it stands; ``final``: the run is over and peaks and means are in."""

    sources: tuple[SourceView, ...] = ()
    series: tuple[SeriesView, ...] = ()
    final: bool = False

    @property
    def any_available(self) -> bool:
        return any(s.available for s in self.sources)


def snapshot(
    rec: TelemetryRecording, *, final: bool = False, points: int = HISTORY_POINTS
) -> TelemetrySnapshot:
    """The panel's view of ``rec``; call it where ``rec`` is not being written to."""
    sources = tuple(
        SourceView(s.kind.value, s.describe(), s.available) for s in rec.sources.values()
    )
    stats = (
        {(s.source, s.metric, s.label): (s.peak, s.mean) for s in summarise(rec)} if final else {}
    )
    series: list[SeriesView] = []
    for s in rec.series.values():
        if not s.points:
            continue
        recent = s.points[-points:]
        history = tuple(v for _, v in recent)
        times = tuple(rec.t_s(t) for t, _ in recent)
        peak, mean = stats.get((s.source.value, s.metric, s.label), (None, None))
        series.append(
            SeriesView(
                s.source.value, s.metric, s.label, s.unit, history[-1], history, peak, mean, times
            )
        )
    return TelemetrySnapshot(sources, tuple(series), final)
